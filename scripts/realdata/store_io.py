"""Read and write recaux feature stores (the layout documented in src/data/store.rs) with numpy.

    0   magic "RECAUXFS", version u32 (1), reserved u32
    16  header JSON length u64, clips N u64, table offset u64, data offset u64, data length u64
    64  header JSON; table: N x 32-byte records (track_id u64, offset u64, frames u32,
        label u32, split u8, flags u8, 6 pad bytes); data: f16 features, [frames, n_mels] each

Splits: 0 train, 1 validation, 2 test.
"""
import json
import os
import struct

import numpy as np

MAGIC = b"RECAUXFS"
RECORD = np.dtype([("track_id", "<u8"), ("offset", "<u8"), ("frames", "<u4"), ("label", "<u4"),
                   ("split", "u1"), ("flags", "u1"), ("pad", "V6")])
SPLITS = {"train": 0, "validation": 1, "test": 2}


def read_store(path):
    """(header dict, records structured array, list of [frames, n_mels] float32 arrays)."""
    b = open(path, "rb").read()
    if b[:8] != MAGIC:
        raise ValueError(f"{path}: not a recaux feature store")
    (version,) = struct.unpack_from("<I", b, 8)
    if version != 1:
        raise ValueError(f"{path}: store version {version}, this reader knows 1")
    hlen, n, table_off, data_off, data_len = struct.unpack_from("<5Q", b, 16)
    header = json.loads(b[64:64 + hlen])
    records = np.frombuffer(b, RECORD, n, table_off)
    data = np.frombuffer(b, "<f2", data_len, data_off)
    m = header["n_mels"]
    feats = [data[r["offset"]:r["offset"] + r["frames"] * m].reshape(r["frames"], m).astype(np.float32)
             for r in records]
    return header, records, feats


def _align64(x):
    return (x + 63) // 64 * 64


def write_store(path, header, records, feats):
    """Write a store with `header` (dict), the clips' `records` (offsets are recomputed) and
    their `feats` ([frames, n_mels] arrays, stored as f16), via a temporary file."""
    m = header["n_mels"]
    js = json.dumps(header).encode()
    n = len(records)
    table_off = _align64(64 + len(js))
    data_off = _align64(table_off + n * RECORD.itemsize)
    recs = np.array(records, dtype=RECORD, copy=True)
    off = 0
    for i, f in enumerate(feats):
        if f.shape != (recs[i]["frames"], m):
            raise ValueError(f"clip {i}: shape {f.shape}, record says ({recs[i]['frames']}, {m})")
        recs[i]["offset"] = off
        off += f.size
    tmp = path + ".tmp"
    with open(tmp, "wb") as w:
        w.write(MAGIC + struct.pack("<II", 1, 0) + struct.pack("<5Q", len(js), n, table_off, data_off, off))
        w.write(b"\0" * (64 - 56))
        w.write(js)
        w.write(b"\0" * (table_off - 64 - len(js)))
        w.write(recs.tobytes())
        w.write(b"\0" * (data_off - table_off - n * RECORD.itemsize))
        for f in feats:
            w.write(np.ascontiguousarray(f, dtype="<f2").tobytes())
    os.replace(tmp, path)
