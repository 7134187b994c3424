"""TTS speed: every dialogue line of the pilot's episodes synthesized once, cold (no cache), in its speaker's voice,
emotion and the project's pronunciations, through engines/audio/tts.py, by every engine installed here, side by side
in this one run: Kokoro-82M (int8 ONNX), flite, espeak-ng. Each engine speaks in the voices its own casting gives the
speakers (`voice.cast(project, together, force_engine=engine)`, as NAOS_VOICE_ENGINE=<engine> would).

Per engine: seconds per line (mean, p95, max); CPU-seconds per second of speech, of this process and its children
(espeak-ng, flite and the ffmpeg resampler are subprocesses), and the same without the resampler; the process's first
call against the same call later (for Kokoro: the model load). Then the listening test (faster-whisper, Whisper base)
on the Kokoro takes: its model load, and CPU-seconds and wall seconds per minute of speech. Prints one JSON line.
Seed 004 §19.0: at most 5 s per line; our aim is 0.3 s. The machine is shared: compare the engines' ratios within one
run, not seconds across runs.

    python bench/tts.py [--engines kokoro,flite,espeak-ng] [--no-listen]

NAOS_KOKORO_THREADS (default 2) and NAOS_LISTEN_THREADS (default 1) are read as in a render.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engines.audio import tts, voice  # noqa: E402
from engines.audio.casting import CastingError  # noqa: E402
from engines.writing import load_outline, load_project  # noqa: E402

PILOT = ROOT / "examples" / "pilot" / "project.yaml"
WARM_UP = "The lamp is dark."  # spoken first (the process's first call) and again after the lines


def pilot_lines(project) -> tuple[list[tuple[str, str, str, str]], list[set[str]]]:
    """((episode, speaker, text, emotion) for every dialogue beat of the pilot's outlines, who shares each scene)."""
    lines, together = [], []
    for ref in project.episodes:
        outline, _sha = load_outline(project, PILOT, ref.id)
        for scene in outline.scenes if outline else []:
            speakers = {b.speaker for b in scene.beats if getattr(b, "speaker", None)}
            together.append(set(scene.characters) | speakers)
            lines += [(ref.id, b.speaker, b.line, getattr(b, "emotion", None) or "neutral")
                      for b in scene.beats if getattr(b, "line", None)]
    return lines, together


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, -(-95 * len(ordered) // 100) - 1))]  # nearest-rank


def child_cpu_s() -> float:
    """CPU seconds (user + system) of this process's finished children (espeak-ng, flite, ffmpeg)."""
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return kids.ru_utime + kids.ru_stime


def cpu_s() -> float:
    """CPU seconds (user + system) of this process, all its threads, and its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime + child_cpu_s()


def timed(fn, *args, **kwargs):
    """(fn's result, wall seconds, CPU seconds)."""
    cpu, wall = cpu_s(), time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - wall, cpu_s() - cpu


def casting_for(project, together: list[set[str]], engine: str) -> tuple[dict, str]:
    """The cast on `engine` for the pilot's season; without the season's scenes if that cannot be cast (a note says
    so: the voices per speaker are what is timed here)."""
    try:
        return voice.cast(project, together, force_engine=engine), ""
    except CastingError as error:
        return voice.cast(project, force_engine=engine), f"cast without the season's scenes: {error}"


class Resampler:
    """Wraps tts._resample (the bundled ffmpeg, one process a line) to count its share of the time."""

    def __init__(self):
        self.wall = self.cpu = 0.0
        self.inner = tts._resample

    def __call__(self, *args):
        out, wall, cpu = timed(self.inner, *args)
        self.wall, self.cpu = self.wall + wall, self.cpu + cpu
        return out


def bench_engine(engine: str, project, lines, together) -> tuple[dict, list[tuple[bytes, str]]]:
    casting, note = casting_for(project, together, engine)
    speak = lambda spk, text, emotion: tts.synthesize(  # noqa: E731
        text, casting[spk].profile, emotion, pronunciations=project.pronunciations)
    spk0 = lines[0][1]
    _wav, first_s, first_cpu = timed(speak, spk0, WARM_UP, "neutral")  # the first call: model load, imports
    seconds, cpu, audio, takes, children = [], 0.0, 0.0, [], child_cpu_s()
    tts._resample = resampler = Resampler()
    try:
        for _episode, spk, text, emotion in lines:
            wav, wall, used = timed(speak, spk, text, emotion)
            seconds.append(wall)
            cpu += used
            audio += tts.wav_duration(wav)
            takes.append((wav, text))
    finally:
        tts._resample = resampler.inner
    children = child_cpu_s() - children
    _wav, later_s, _cpu = timed(speak, spk0, WARM_UP, "neutral")
    row = {
        "version": tts.engine_version(engine),
        "voices": {sid: c.voice for sid, c in sorted(casting.items())},
        "s_per_line_mean": round(statistics.fmean(seconds), 4),
        "s_per_line_p95": round(p95(seconds), 4),
        "s_per_line_max": round(max(seconds), 4),
        "audio_s": round(audio, 2),
        "wall_s": round(sum(seconds), 2),
        "cpu_s": round(cpu, 2),
        "cpu_s_per_speech_s": round(cpu / audio, 4),
        "cpu_s_subprocesses": round(children, 2),  # the engine's (espeak-ng, flite) and the ffmpeg resampler's
        "resampler_cpu_s": round(resampler.cpu, 2),  # to 48 kHz, one ffmpeg process a line
        "engine_cpu_s_per_speech_s": round((cpu - resampler.cpu) / audio, 4),  # all but the resampler
        "wall_s_per_speech_s": round(sum(seconds) / audio, 4),
        "first_call_s": round(first_s, 3),
        "first_call_cpu_s": round(first_cpu, 3),
        "same_line_later_s": round(later_s, 3),
        "first_call_extra_s": round(first_s - later_s, 3),  # Kokoro: the model load (the rest: imports)
        "ok": p95(seconds) <= 5.0,
    }
    if note:
        row["note"] = note
    return row, takes


def bench_listen(takes: list[tuple[bytes, str]]) -> dict:
    """The listening test's cost over `takes` (WAV, line): model load, then one check_line per take."""
    from engines.audio import listen

    if not listen.available():
        return {"error": listen.INSTALL_HINT}
    threads = listen._threads()
    _model, load_s, load_cpu = timed(listen._model, threads)
    audio, wall, cpu, wers = 0.0, 0.0, 0.0, []
    for wav, text in takes:
        samples, rate = tts.wav_samples(wav)
        heard, w, c = timed(listen.check_line, samples, rate, text)
        audio, wall, cpu = audio + tts.wav_duration(wav), wall + w, cpu + c
        wers.append(heard["wer"])
    minutes = audio / 60
    return {
        "version": listen.version(),
        "threads": threads,
        "model_load_s": round(load_s, 2),
        "model_load_cpu_s": round(load_cpu, 2),
        "lines": len(takes),
        "audio_s": round(audio, 2),
        "s_per_line_mean": round(wall / len(takes), 3),
        "wall_s_per_speech_min": round(wall / minutes, 2),
        "cpu_s_per_speech_min": round(cpu / minutes, 2),
        "mean_wer": round(statistics.fmean(wers), 4),
        "lines_over_0.25": sum(w > 0.25 for w in wers),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default=",".join(tts.installed_engines()),
                        help="comma-separated, in the order run (default: every engine installed here)")
    parser.add_argument("--no-listen", action="store_true", help="skip the listening test's cost")
    args = parser.parse_args()
    engines = [e for e in args.engines.split(",") if e]
    if not engines or not tts.available():
        print(json.dumps({"bench": "tts", "error": tts.INSTALL_HINT}))
        raise SystemExit(2)
    project = load_project(PILOT)
    lines, together = pilot_lines(project)
    started = time.perf_counter()
    result: dict = {"bench": "tts", "lines": len(lines), "engines": {}}
    kokoro_takes = []
    for engine in engines:
        if not tts.engine_available(engine):
            result["engines"][engine] = {"error": f"{engine} is not installed"}
            continue
        row, takes = bench_engine(engine, project, lines, together)
        result["engines"][engine] = row
        kokoro_takes = takes if engine == "kokoro" else kokoro_takes
    if kokoro_takes and not args.no_listen:
        result["listening_test"] = bench_listen(kokoro_takes)
    rows = {e: r for e, r in result["engines"].items() if "cpu_s_per_speech_s" in r}
    if "espeak-ng" in rows:  # CPU per second of speech, as a multiple of espeak-ng's (the draft engine)
        base = rows["espeak-ng"]["cpu_s_per_speech_s"]
        result["cpu_ratio_to_espeak"] = {e: round(r["cpu_s_per_speech_s"] / base, 1) for e, r in rows.items()}
    result.update({
        "target_s_per_line": 5.0,
        "aim_s_per_line": 0.3,
        "kokoro_threads": os.environ.get("NAOS_KOKORO_THREADS", "2"),
        "bench_wall_s": round(time.perf_counter() - started, 1),
        "machine": f"{platform.machine()} {platform.system()}, {os.cpu_count()} cores, py{platform.python_version()}",
        "load_avg_1min": round(os.getloadavg()[0], 2),
    })
    print(json.dumps(result))


if __name__ == "__main__":
    main()
