"""Offscreen OpenGL contexts for the renderer: moderngl on an EGL standalone context.

EGL needs no display server, so the same code runs on a CPU machine (Mesa's llvmpipe software
rasteriser) and on a GPU machine (the vendor's EGL driver). :func:`create_context` logs
``GL_RENDERER`` once per process; with ``require_gpu=True`` it refuses a context that silently
fell back to a software rasteriser (llvmpipe / softpipe / swrast), which is what happens on a GPU
machine without the vendor's EGL library.

Environment:
    ``GLCONTEXT_DEVICE_INDEX``: which EGL device (GPU) moderngl opens (default 0).
    ``LP_NUM_THREADS``: llvmpipe's rasteriser threads; set it to 1 in each data-loader worker
    (:func:`set_worker_threads`) so N workers use N cores.
"""
from __future__ import annotations

import ctypes.util
import logging
import os
from dataclasses import dataclass

__all__ = ["GL_APT_PACKAGES", "GLUnavailableError", "GLInfo", "create_context", "gl_info", "is_software",
           "set_worker_threads"]

log = logging.getLogger(__name__)

# Debian/Ubuntu packages that provide EGL + Mesa's drivers (scripts/setup_gl.sh installs them).
GL_APT_PACKAGES: tuple[str, ...] = ("libegl1", "libegl-mesa0", "libgl1-mesa-dri", "libgl1", "libopengl0")
SOFTWARE_RENDERERS: tuple[str, ...] = ("llvmpipe", "softpipe", "swrast", "software")


class GLUnavailableError(RuntimeError):
    """No usable OpenGL context: the message says what is missing and how to install it."""


@dataclass(frozen=True)
class GLInfo:
    """What the driver reports about a context."""

    renderer: str
    vendor: str
    version: str

    @property
    def software(self) -> bool:
        return is_software(self.renderer)


def is_software(renderer: str) -> bool:
    """True for Mesa's CPU rasterisers (``llvmpipe``, ``softpipe``, ``swrast``)."""
    r = renderer.lower()
    return any(s in r for s in SOFTWARE_RENDERERS)


def _install_hint() -> str:
    pk = " ".join(GL_APT_PACKAGES)
    return (f"install the EGL/Mesa libraries: `sudo apt-get install -y {pk}` "
            f"(or run scripts/setup_gl.sh as root); on a GPU machine also the vendor's EGL library "
            f"(NVIDIA: libnvidia-gl / the driver's libEGL_nvidia.so)")


def set_worker_threads(n: int = 1) -> None:
    """Limit llvmpipe (and BLAS/OpenMP) threads of this process; call before the first context."""
    os.environ["LP_NUM_THREADS"] = str(int(n))
    os.environ.setdefault("OMP_NUM_THREADS", str(int(n)))


_LOGGED: set[str] = set()


def _preload_llvm_users() -> None:
    """Import triton (via torch._dynamo) before Mesa's llvmpipe loads its LLVM.

    With a llvmpipe context alive, a later first import of triton (which roma/anny trigger through
    ``torch._dynamo``) segfaults in the LLVM symbol clash; imported first, both coexist.
    """
    import sys
    if "torch" in sys.modules or os.environ.get("POSE_RENDER_PRELOAD_TORCH", "1") == "1":
        try:
            import torch._dynamo  # noqa: F401
        except Exception:  # noqa: BLE001 - torch not installed: nothing to protect
            pass


def create_context(require_gpu: bool = False, device_index: int | None = None):
    """A standalone moderngl context on EGL (OpenGL 3.3 core).

    Args:
        require_gpu: refuse a software (llvmpipe) context with :class:`GLUnavailableError`.
        device_index: EGL device to open (sets ``GLCONTEXT_DEVICE_INDEX``); None keeps the environment's.
    Returns:
        ``moderngl.Context``.
    Raises:
        GLUnavailableError: moderngl missing, no EGL/GL libraries, context creation failed, or a
            software renderer where a GPU was required. The message names the packages to install.
    """
    try:
        import moderngl
    except ImportError as e:
        raise GLUnavailableError("the renderer needs moderngl: `pip install -r requirements/training.txt` "
                                 f"(moderngl==5.13.0); {e}") from e
    _preload_llvm_users()
    missing = [lib for lib in ("EGL", "GL") if ctypes.util.find_library(lib) is None]
    if missing:
        raise GLUnavailableError(f"no OpenGL stack: lib{'/lib'.join(missing)} not found; {_install_hint()}")
    if device_index is not None:
        os.environ["GLCONTEXT_DEVICE_INDEX"] = str(int(device_index))
    try:
        ctx = moderngl.create_standalone_context(backend="egl", require=330)
    except Exception as e:  # noqa: BLE001 - glcontext raises plain Exceptions
        raise GLUnavailableError(f"could not create an EGL OpenGL 3.3 context ({e}); {_install_hint()}") from e
    info = gl_info(ctx)
    key = f"{info.renderer}|{os.getpid()}"
    if key not in _LOGGED:
        _LOGGED.add(key)
        log.info("OpenGL context: GL_RENDERER=%s, GL_VERSION=%s, GL_VENDOR=%s", info.renderer, info.version,
                 info.vendor)
    if require_gpu and info.software:
        ctx.release()
        raise GLUnavailableError(
            f"a GPU was required but EGL gave the software renderer {info.renderer!r}: the GPU's EGL vendor "
            "library is missing or not selected (NVIDIA: install the driver's EGL library, check "
            "/usr/share/glvnd/egl_vendor.d/10_nvidia.json, pick the GPU with GLCONTEXT_DEVICE_INDEX)")
    return ctx


def gl_info(ctx) -> GLInfo:
    """Renderer / vendor / version strings of a moderngl context."""
    i = ctx.info
    return GLInfo(str(i.get("GL_RENDERER", "?")), str(i.get("GL_VENDOR", "?")), str(i.get("GL_VERSION", "?")))
