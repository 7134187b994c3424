"""TTS speed: every dialogue line of the pilot's episodes synthesized once, cold (no cache), in its speaker's voice
and emotion, through engines/audio/tts.py (espeak-ng + the bundled ffmpeg resampler). Prints one JSON line with the
seconds per line (mean, p95, max). Seed 004 §19.0: at most 5 s per line; our aim is 0.3 s.

    python bench/tts.py
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engines.audio import tts  # noqa: E402
from schemas import VoiceProfile  # noqa: E402

PILOT = ROOT / "examples" / "pilot"


def pilot_lines() -> list[tuple[str, str, VoiceProfile, str]]:
    """(episode, text, speaker's voice, emotion) for every dialogue beat of examples/pilot/episodes/*.yaml."""
    project = yaml.safe_load((PILOT / "project.yaml").read_text())
    voices = {c["id"]: VoiceProfile(**(c.get("voice") or {})) for c in project.get("characters", [])}
    lines = []
    for path in sorted((PILOT / "episodes").glob("*.yaml")):
        for scene in yaml.safe_load(path.read_text()).get("scenes", []):
            for beat in scene.get("beats", []):
                if beat.get("line"):
                    voice = voices.get(beat.get("speaker"), VoiceProfile())
                    lines.append((path.stem, beat["line"], voice, beat.get("emotion") or "neutral"))
    return lines


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, -(-95 * len(ordered) // 100) - 1))]  # nearest-rank


def main() -> None:
    if not tts.available():
        print(json.dumps({"bench": "tts", "error": tts.INSTALL_HINT}))
        raise SystemExit(2)
    lines = pilot_lines()
    seconds, audio = [], 0.0
    for _episode, text, voice, emotion in lines:
        started = time.perf_counter()
        wav = tts.synthesize(text, voice, emotion)
        seconds.append(time.perf_counter() - started)
        audio += tts.wav_duration(wav)
    result = {
        "bench": "tts",
        "engine": tts.engine_version(),
        "lines": len(lines),
        "s_per_line_mean": round(statistics.fmean(seconds), 4),
        "s_per_line_p95": round(p95(seconds), 4),
        "s_per_line_max": round(max(seconds), 4),
        "audio_s": round(audio, 2),
        "realtime_factor": round(audio / sum(seconds), 1),
        "target_s_per_line": 5.0,
        "aim_s_per_line": 0.3,
        "ok": p95(seconds) <= 5.0,
        "machine": f"{platform.machine()} {platform.system()} py{platform.python_version()}",
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
