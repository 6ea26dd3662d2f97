"""How big a message the DDS transport in use can carry (read from the Fast DDS profile).

The project's loopback profile (``config/fastdds_loopback.xml``) moves camera frames through a shared-
memory segment of ``segment_size`` bytes; a sample larger than the segment is dropped by the transport
without an error anywhere. Publishers of large samples (the camera node) check against this limit.
"""
from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

# Bytes of a sample that are not pixels (CDR header, Image fields, SHM bookkeeping): a generous bound.
SAMPLE_OVERHEAD = 64 * 1024
DEFAULT_LIMIT = 16 * 1024 * 1024 - SAMPLE_OVERHEAD


def shm_segment_size(profile: str | os.PathLike[str] | None = None) -> int | None:
    """``segment_size`` of the first SHM transport in a Fast DDS XML profile (default: the file named by
    ``FASTDDS_DEFAULT_PROFILES_FILE``); None when there is no such file or no SHM transport in it."""
    path = profile if profile is not None else os.environ.get("FASTDDS_DEFAULT_PROFILES_FILE")
    if not path or not Path(path).is_file():
        return None
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError:
        return None
    for td in root.iter():
        if not td.tag.endswith("transport_descriptor"):
            continue
        kind = next((c.text for c in td if c.tag.endswith("type")), "")
        size = next((c.text for c in td if c.tag.endswith("segment_size")), None)
        if (kind or "").strip().upper() == "SHM" and size and size.strip().isdigit():
            return int(size)
    return None


def max_sample_bytes(configured: int = 0) -> int:
    """The largest sample to publish: ``configured`` when > 0, else the SHM segment of the active profile
    minus :data:`SAMPLE_OVERHEAD`, else :data:`DEFAULT_LIMIT` (16 MiB less the overhead)."""
    if configured > 0:
        return int(configured)
    seg = shm_segment_size()
    return seg - SAMPLE_OVERHEAD if seg else DEFAULT_LIMIT
