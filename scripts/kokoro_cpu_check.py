"""Do Kokoro (int8 ONNX, CPU provider) and espeak-ng give the same bytes on this CPU as on another?

Prints JSON: the instruction sets this process sees (numpy's runtime CPUID dispatch, so it is right under
`qemu-x86_64 -cpu X`, where /proc/cpuinfo still describes the host), and sha256 of
- the raw float32 samples of `engines.audio.kokoro.synthesize`,
- the WAV of `engines.audio.tts.synthesize` (kokoro; levelled, int16, resampled by ffmpeg),
- the int16 samples of `engines.audio.espeak.synthesize` (the control).
Compare the output of two machines, or of one machine natively and under emulation, e.g.

    NAOS_KOKORO_THREADS=1 qemu-x86_64 -cpu Nehalem .venv/bin/python scripts/kokoro_cpu_check.py --save /tmp/nehalem

espeak-ng and ffmpeg run as subprocesses: natively, even under qemu-user, unless PATH leads to a wrapper that runs
them under qemu too.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
from pathlib import Path

ISA = ("SSE42", "AVX", "F16C", "FMA3", "AVX2", "AVX512F", "AVX512_SKX", "AVX512_CLX", "AVX512_ICL", "AVX512_SPR")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--text", default="The lamp is dark.")
    ap.add_argument("--voice", default="bf_emma")
    ap.add_argument("--save", type=Path, help="write kokoro.f32, tts.wav and espeak.s16 to this directory")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

    import numpy as np
    import onnxruntime as ort

    from engines.audio import espeak, kokoro, tts
    from schemas import VoiceProfile

    try:
        features = np._core._multiarray_umath.__cpu_features__
    except AttributeError:
        features = {}
    raw = kokoro.synthesize(args.text, args.voice).astype("<f4").tobytes()
    wav = tts.synthesize(args.text, VoiceProfile(engine="kokoro", voice=args.voice))
    pcm = espeak.synthesize(args.text, "en-gb").astype("<i2").tobytes()
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
        for name, data in (("kokoro.f32", raw), ("tts.wav", wav), ("espeak.s16", pcm)):
            (args.save / name).write_bytes(data)
    print(json.dumps({
        "machine": platform.machine(),
        "isa_seen": [f for f in ISA if features.get(f)],
        "onnxruntime": ort.__version__,
        "threads": os.environ.get("NAOS_KOKORO_THREADS", "1"),
        "text": args.text,
        "voice": args.voice,
        "kokoro_f32": {"samples": len(raw) // 4, "sha256": sha(raw)},
        "tts_wav": {"bytes": len(wav), "sha256": sha(wav)},
        "espeak_s16": {"samples": len(pcm) // 2, "sha256": sha(pcm)},
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
