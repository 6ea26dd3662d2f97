"""Frames and 2-D zone shapes (pure numpy, no ROS).

Zones are vertical prisms over a shape in the robot base frame's x-y plane (as in Nav2's collision
monitor): a joint is inside a zone when its (x, y) projection is inside the shape, whatever its height.
Signed distances are negative inside, positive outside, in metres.
"""
from __future__ import annotations

import math

import numpy as np


# ----------------------------------------------------------------------------------------------- frames
def rpy_to_matrix(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """Rz(yaw) @ Ry(pitch) @ Rx(roll), the ROS (tf2) fixed-axis convention. Returns (3, 3)."""
    cr, sr, cp, sp, cy, sy = (math.cos(roll), math.sin(roll), math.cos(pitch), math.sin(pitch),
                              math.cos(yaw), math.sin(yaw))
    return np.array([[cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
                     [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
                     [-sp, cp * sr, cp * cr]])


def quaternion_to_matrix(x: float, y: float, z: float, w: float) -> np.ndarray:
    """Unit quaternion (x, y, z, w) -> (3, 3) rotation matrix; raises ValueError on a zero/NaN quaternion."""
    n = math.sqrt(x * x + y * y + z * z + w * w)
    if not (n > 1e-9 and math.isfinite(n)):
        raise ValueError(f"invalid quaternion ({x}, {y}, {z}, {w})")
    x, y, z, w = x / n, y / n, z / n, w / n
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def make_transform(rotation: np.ndarray, translation) -> np.ndarray:
    t = np.eye(4)
    t[:3, :3] = rotation
    t[:3, 3] = translation
    return t


def camera_to_base(xyz: tuple[float, float, float], rpy: tuple[float, float, float]) -> np.ndarray:
    """(4, 4) transform taking points in the camera optical frame to the robot base frame."""
    return make_transform(rpy_to_matrix(*rpy), xyz)


def invert_transform(t: np.ndarray) -> np.ndarray:
    inv = np.eye(4)
    inv[:3, :3] = t[:3, :3].T
    inv[:3, 3] = -t[:3, :3].T @ t[:3, 3]
    return inv


def to_base(points: np.ndarray, transform: np.ndarray) -> np.ndarray:
    """(J, 3) points -> (J, 3) points transformed by the (4, 4) ``transform``."""
    return points @ transform[:3, :3].T + transform[:3, 3]


def chain_transform(edges: dict[str, tuple[str, np.ndarray]], target: str, source: str) -> np.ndarray | None:
    """Compose static transforms (``edges``: child -> (parent, T_parent_child)) into T_target_source.

    Walks from ``source`` and from ``target`` up to their common ancestor (tf tree semantics).
    Returns None when the two frames are not connected.
    """
    def path_up(frame: str) -> list[tuple[str, np.ndarray]]:
        out, seen = [(frame, np.eye(4))], {frame}
        acc = np.eye(4)
        while frame in edges:
            parent, t = edges[frame]
            if parent in seen:          # a loop: malformed tree
                return out
            acc = t @ acc
            out.append((parent, acc.copy()))
            seen.add(parent)
            frame = parent
        return out

    up_src, up_tgt = path_up(source), dict(path_up(target))
    for frame, t_frame_source in up_src:
        if frame in up_tgt:
            return invert_transform(up_tgt[frame]) @ t_frame_source
    return None


# ----------------------------------------------------------------------------------------------- shapes
def circle_outline(center, radius: float, n: int = 48) -> np.ndarray:
    a = np.linspace(0.0, 2 * math.pi, n, endpoint=False)
    return np.stack([center[0] + radius * np.cos(a), center[1] + radius * np.sin(a)], axis=1)


def polygon_from_flat(points) -> np.ndarray:
    """[x1, y1, x2, y2, ...] -> (N, 2)."""
    return np.asarray(points, float).reshape(-1, 2)


def polygon_area(poly: np.ndarray) -> float:
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def _segments_cross(p1, p2, q1, q2) -> bool:
    """Proper intersection of segments p1-p2 and q1-q2 (touching endpoints do not count)."""
    def orient(a, b, c):
        return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
    d1, d2 = orient(q1, q2, p1), orient(q1, q2, p2)
    d3, d4 = orient(p1, p2, q1), orient(p1, p2, q2)
    return d1 * d2 < 0 and d3 * d4 < 0


def polygon_is_simple(poly: np.ndarray) -> bool:
    """True when no two non-adjacent edges cross (and the polygon has a non-zero area)."""
    n = len(poly)
    if n < 3 or abs(polygon_area(poly)) < 1e-9:
        return False
    for i in range(n):
        for j in range(i + 1, n):
            if j == i or (j + 1) % n == i or (i + 1) % n == j:
                continue
            if _segments_cross(poly[i], poly[(i + 1) % n], poly[j], poly[(j + 1) % n]):
                return False
    return True


class Shape:
    """A 2-D region in the base x-y plane."""

    def signed_distance(self, xy: np.ndarray) -> np.ndarray:   # (N, 2) -> (N,)
        raise NotImplementedError

    def outline(self) -> np.ndarray:                            # (M, 2) closed boundary, not repeated
        raise NotImplementedError

    def entry_time(self, xy: np.ndarray, vel: np.ndarray, margin: np.ndarray, horizon: float) -> np.ndarray:
        """Earliest t in [0, horizon] at which xy + vel * t is within ``margin`` of the shape; inf if never."""
        raise NotImplementedError


class Circle(Shape):
    def __init__(self, center, radius: float) -> None:
        self.center = np.asarray(center, float).reshape(2)
        self.radius = float(radius)

    def signed_distance(self, xy: np.ndarray) -> np.ndarray:
        d = xy - self.center
        return np.sqrt(d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1]) - self.radius

    def outline(self) -> np.ndarray:
        return circle_outline(self.center, self.radius)

    def entry_time(self, xy, vel, margin, horizon):
        # |q + u t| = R  ->  a t^2 + b t + c = 0, first root in [0, horizon]
        q = xy - self.center
        r = self.radius + margin
        a = vel[:, 0] ** 2 + vel[:, 1] ** 2
        b = 2.0 * (q[:, 0] * vel[:, 0] + q[:, 1] * vel[:, 1])
        c = q[:, 0] ** 2 + q[:, 1] ** 2 - r * r
        disc = b * b - 4.0 * a * c
        with np.errstate(divide="ignore", invalid="ignore"):
            t1 = (-b - np.sqrt(np.maximum(disc, 0.0))) / (2.0 * a)
        t = np.where((disc >= 0) & (a > 1e-12) & (t1 >= 0) & (t1 <= horizon), t1, np.inf)
        return np.where(c <= 0, 0.0, t)


class Polygon(Shape):
    # Moving points are checked against polygons at this time step (circles are solved exactly).
    TTC_STEP = 0.05

    def __init__(self, points) -> None:
        self.points = np.asarray(points, float).reshape(-1, 2)
        self.a = self.points
        self.b = np.roll(self.points, -1, axis=0)
        self.e = self.b - self.a
        self.ee = np.maximum((self.e ** 2).sum(axis=1), 1e-18)

    def signed_distance(self, xy: np.ndarray) -> np.ndarray:
        px, py = xy[:, 0:1], xy[:, 1:2]                                     # (N, 1)
        ax, ay, ex, ey = self.a[:, 0], self.a[:, 1], self.e[:, 0], self.e[:, 1]  # (E,)
        wx, wy = px - ax, py - ay                                           # (N, E)
        t = np.clip((wx * ex + wy * ey) / self.ee, 0.0, 1.0)
        dx, dy = wx - t * ex, wy - t * ey
        dist = np.sqrt((dx * dx + dy * dy).min(axis=1))
        # even-odd ray casting for inside
        by = self.b[:, 1]
        cond = (ay > py) != (by > py)
        with np.errstate(divide="ignore", invalid="ignore"):
            xint = ax + (py - ay) * ex / (by - ay)
        inside = (np.count_nonzero(cond & (px < xint), axis=1) % 2) == 1
        return np.where(inside, -dist, dist)

    def outline(self) -> np.ndarray:
        return self.points

    def entry_time(self, xy, vel, margin, horizon):
        steps = np.arange(0.0, horizon + 1e-9, self.TTC_STEP)
        if steps[-1] < horizon:
            steps = np.append(steps, horizon)
        n = len(xy)
        pts = (xy[:, None, :] + vel[:, None, :] * steps[None, :, None]).reshape(-1, 2)
        inside = (self.signed_distance(pts).reshape(n, len(steps)) <= np.asarray(margin).reshape(-1, 1))
        first = np.argmax(inside, axis=1)
        return np.where(inside.any(axis=1), steps[first], np.inf)


def shape_inside(inner: Shape, outer: Shape, tol: float = 1e-6) -> bool:
    """True when ``inner`` lies inside ``outer`` (boundary points and, for polygons, no crossing edges)."""
    if isinstance(inner, Circle) and isinstance(outer, Circle):
        return float(np.linalg.norm(inner.center - outer.center)) + inner.radius <= outer.radius + tol
    pts = inner.outline() if isinstance(inner, Polygon) else circle_outline(inner.center, inner.radius, 96)
    if np.any(outer.signed_distance(pts) > tol):
        return False
    if isinstance(inner, Polygon) and isinstance(outer, Polygon):
        for i in range(len(inner.points)):
            for j in range(len(outer.points)):
                if _segments_cross(inner.a[i], inner.b[i], outer.a[j], outer.b[j]):
                    return False
    if isinstance(inner, Polygon) and isinstance(outer, Circle):
        return True     # a circle is convex: vertices inside => polygon inside
    if isinstance(inner, Circle) and isinstance(outer, Polygon):
        # a concave polygon can cut into the circle between two sampled points: no vertex may lie inside it
        return bool(np.all(inner.signed_distance(outer.points) >= -tol))
    return True
