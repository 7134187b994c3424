"""Dialogue fitting, track assembly, music ducking and loudness normalisation, over the bundled ffmpeg and numpy.

Every function takes and returns WAV bytes: mono, 16-bit PCM, 48 kHz (`RATE`), or int16 samples at RATE (the
`*_samples`, meter and `normalise` functions). Inputs in another layout (other rate, stereo, float, or any file
ffmpeg decodes) are converted once by ffmpeg (`-ar 48000 -ac 1`). Sample-exact work (padding, trimming, placing
clips) is done with numpy; time-stretching and ducking run the bundled ffmpeg single-threaded with the bit-exact
flags; loudness is measured and normalised in numpy/scipy (BS.1770-4), with the gain rounded to 0.01 dB so that a
last-bit difference in a measurement cannot change it. So the same inputs give byte-identical outputs. Plain Python,
no Dagster.
"""

from __future__ import annotations

import io
import math
import re
import tempfile
import wave
from pathlib import Path

import numpy as np

from engines.video.ffmpeg import BITEXACT_FLAGS, GLOBAL_FLAGS, RenderError, run_ffmpeg

RATE = 48_000  # samples per second of every WAV this module reads or writes
PCM_OUT: list[str] = ["-c:a", "pcm_s16le", "-ar", str(RATE), "-ac", "1", "-f", "wav"]

# loudnorm_two_pass: how far under the gain's headroom peaks are pre-limited (per try), and how many tries
# the music bed under dialogue: its level, and how hard dialogue ducks it (sidechaincompress options)
MUSIC_BED_DB = -12.0
DUCK_TAIL_S = 1.0  # extra signal fed past the end of a duck_music mix, then cut (see duck_music)
DUCK = {"threshold": 0.015, "ratio": 4, "attack": 20, "release": 350, "knee": 2.5, "makeup": 1}


class SlotError(ValueError):
    """A line's audio does not fit its shot's slot, even time-stretched within the limit."""

    def __init__(self, shot_id: str, line_id: str, needed_s: float, slot_s: float, stretch: float, limit: float):
        self.shot_id = shot_id
        self.line_id = line_id
        self.needed_s = needed_s
        self.slot_s = slot_s
        self.stretch = stretch  # the fraction the line would have to be squeezed by (0.28 = 28 %)
        self.limit = limit
        super().__init__(
            f"shot {shot_id}: line {line_id} needs {needed_s:.2f} s, its slot is {slot_s:.2f} s "
            f"(a {stretch * 100:.0f} % squeeze; the limit is {limit * 100:.0f} %)"
        )


# ---- WAV <-> numpy ----------------------------------------------------------------------------------------------


def samples_for(seconds: float) -> int:
    """The number of samples in `seconds` at RATE, rounded to the nearest sample."""
    return int(round(seconds * RATE))


def wav_bytes(samples: np.ndarray) -> bytes:
    """Mono 16-bit 48 kHz WAV bytes of `samples` (int16, or float in [-1, 1], clipped). A plain 44-byte header."""
    if samples.dtype != np.int16:
        samples = np.clip(np.round(np.asarray(samples, dtype=np.float64) * 32767.0), -32768, 32767).astype(np.int16)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(samples.astype("<i2").tobytes())
    return buf.getvalue()


def read_wav(wav: bytes | Path | str) -> np.ndarray:
    """The samples of a WAV (bytes, or a path to any audio file ffmpeg reads) as int16 mono at RATE. Anything but a
    plain mono 16-bit 48 kHz WAV is converted by ffmpeg (downmix, aresample)."""
    path = Path(wav).resolve() if isinstance(wav, (Path, str)) else None
    data = path.read_bytes() if path is not None else wav
    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            if (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getcomptype()) == (1, 2, RATE, "NONE"):
                return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.int16)
    except (wave.Error, EOFError):
        pass  # not a plain PCM WAV (WAVE_FORMAT_EXTENSIBLE, float, AAC, ...): let ffmpeg read it
    with tempfile.TemporaryDirectory(prefix="naos-audio-") as tmp:
        dst = Path(tmp) / "out.wav"
        if path is None:
            path = Path(tmp) / "in.wav"
            path.write_bytes(data)
        _ffmpeg([*GLOBAL_FLAGS, "-i", f"file:{path}", "-map", "0:a:0", *PCM_OUT, *BITEXACT_FLAGS, f"file:{dst}"],
                f"decode {path.name} to 48 kHz mono")  # fmt: skip
        return read_wav(dst.read_bytes())


def duration_s(wav: bytes | Path | str) -> float:
    return len(read_wav(wav)) / RATE


def _fit_length(samples: np.ndarray, n: int) -> np.ndarray:
    """Pad with silence or trim at the end to exactly n samples."""
    if len(samples) >= n:
        return samples[:n]
    return np.concatenate([samples, np.zeros(n - len(samples), dtype=samples.dtype)])


def _ffmpeg(args: list[str], what: str, *, loglevel: str = "error") -> str:
    return run_ffmpeg(args, what, loglevel=loglevel).stderr


def _filter_wav(samples: np.ndarray, af: str, what: str) -> np.ndarray:
    """Run one mono 48 kHz signal through an ffmpeg -af chain; the result as int16 at RATE."""
    with tempfile.TemporaryDirectory(prefix="naos-audio-") as tmp:
        src, dst = Path(tmp) / "in.wav", Path(tmp) / "out.wav"
        src.write_bytes(wav_bytes(samples))
        _ffmpeg([*GLOBAL_FLAGS, "-i", f"file:{src}", "-af", af, *PCM_OUT, *BITEXACT_FLAGS, f"file:{dst}"], what)
        return read_wav(dst.read_bytes())


# ---- fitting a line to its slot ---------------------------------------------------------------------------------


def atempo_chain(tempo: float) -> str:
    """An atempo filter for `tempo` (>1 plays faster). One atempo covers 0.5..100, so one stage suffices here."""
    return f"atempo={tempo:.6f}"


def fit_to_slot(wav: bytes, slot_s: float, *, shot_id: str, line_id: str, max_stretch: float = 0.10) -> bytes:
    """`wav` made exactly `slot_s` long (to the sample): padded with silence if it fits, time-compressed with atempo
    (pitch kept) if it is longer by at most `max_stretch` of the slot, else SlotError."""
    if slot_s <= 0:
        raise ValueError(f"shot {shot_id}: line {line_id} has an empty slot ({slot_s} s)")
    samples = read_wav(wav)
    slot_n = samples_for(slot_s)
    if len(samples) <= slot_n:
        return wav_bytes(_fit_length(samples, slot_n))
    squeeze = len(samples) / slot_n - 1.0
    if squeeze > max_stretch + 1e-9:
        raise SlotError(shot_id, line_id, len(samples) / RATE, slot_n / RATE, squeeze, max_stretch)
    stretched = _filter_wav(samples, atempo_chain(len(samples) / slot_n), f"time-stretch {shot_id}/{line_id}")
    return wav_bytes(_fit_length(stretched, slot_n))


# ---- the dialogue track -----------------------------------------------------------------------------------------


def assemble_track(placements: list[tuple[float, bytes]], duration_s: float) -> bytes:
    """A WAV exactly `duration_s` long with each (start_s, wav) clip placed at its start sample. Overlaps add
    (clipped to 16 bits); a clip that starts before 0 or runs past the end is a ValueError."""
    total = samples_for(duration_s)
    track = np.zeros(total, dtype=np.int32)
    for start_s, wav in placements:
        clip = read_wav(wav)
        start = samples_for(start_s)
        if start < 0 or start + len(clip) > total:
            raise ValueError(
                f"a clip of {len(clip) / RATE:.3f} s at {start_s:.3f} s does not fit a {duration_s:.3f} s track"
            )
        track[start : start + len(clip)] += clip
    return wav_bytes(np.clip(track, -32768, 32767).astype(np.int16))


# ---- music under dialogue ---------------------------------------------------------------------------------------


def duck_filter(*, bed_db: float = MUSIC_BED_DB) -> str:
    """The filter_complex for duck_music: input 0 the dialogue, input 1 the music bed, both mono 48 kHz and already
    exactly as long as the result; output [out]."""
    duck = ":".join(f"{k}={v}" for k, v in DUCK.items())
    return (
        f"[1:a]volume={bed_db}dB[bed];"
        f"[0:a]asplit=2[dlg][key];"
        f"[bed][key]sidechaincompress={duck}[ducked];"
        f"[dlg][ducked]amix=inputs=2:duration=longest:normalize=0[out]"
    )


def loop_to(samples: np.ndarray, n: int) -> np.ndarray:
    """`samples` repeated end to end (or trimmed) to exactly n samples."""
    if len(samples) == 0:
        return np.zeros(n, dtype=np.int16)
    return np.tile(samples, -(-n // len(samples)))[:n]


def duck_music(dialogue_wav: bytes, music_path: Path, duration_s: float) -> bytes:
    """Dialogue over a music bed: the music (any format ffmpeg reads, downmixed to mono 48 kHz) looped or trimmed to
    `duration_s` sample-exactly, lowered by MUSIC_BED_DB dB and ducked under the dialogue (sidechaincompress keyed by
    the dialogue), then summed with it (amix normalize=0). Exactly `duration_s` long (see duck_samples)."""
    music_path = Path(music_path)
    if not music_path.is_file():
        raise RenderError(f"duck music under dialogue: {music_path}", "music file does not exist")
    n = samples_for(duration_s)
    return wav_bytes(duck_samples(_fit_length(read_wav(dialogue_wav), n), read_wav(music_path)))


def duck_samples(dialogue: np.ndarray, music: np.ndarray, *, music_offset: int = 0, skip: int = 0) -> np.ndarray:
    """`dialogue` (int16) over the music bed `music` (int16, looped from sample `music_offset` of the loop), the bed
    lowered by MUSIC_BED_DB dB and ducked under the dialogue, as int16 of the dialogue's length minus the first
    `skip` samples (a pre-roll fed through the compressor so its state is right where the result starts).

    Determinism: the filter graph's last ~0.2 s differed between runs (how many final frames sidechaincompress/amix
    emit at EOF depends on which input's end the graph sees first), with `-stream_loop -1` or with two finite inputs
    of equal length. So both inputs run DUCK_TAIL_S past the end (silent dialogue, the bed going on) and the result
    is cut at exactly the dialogue's length; the music loop is done here, sample-exact, rather than with
    `-stream_loop`."""
    n = len(dialogue)
    if not 0 <= skip <= n:
        raise ValueError(f"cannot skip {skip} samples of {n}")
    margin = samples_for(DUCK_TAIL_S)
    bed = np.zeros(n + margin, dtype=np.int16) if len(music) == 0 else \
        np.take(music, (music_offset + np.arange(n + margin)) % len(music))
    with tempfile.TemporaryDirectory(prefix="naos-audio-") as tmp:
        dlg, bed_wav, dst = Path(tmp) / "dialogue.wav", Path(tmp) / "music.wav", Path(tmp) / "mix.wav"
        dlg.write_bytes(wav_bytes(_fit_length(np.asarray(dialogue, dtype=np.int16), n + margin)))
        bed_wav.write_bytes(wav_bytes(bed))
        _ffmpeg(
            [*GLOBAL_FLAGS, "-i", f"file:{dlg}", "-i", f"file:{bed_wav}",
             "-filter_complex", duck_filter(), "-map", "[out]", *PCM_OUT, *BITEXACT_FLAGS, f"file:{dst}"],
            "duck music under dialogue",
        )  # fmt: skip
        mixed = read_wav(dst.read_bytes())
    if len(mixed) < n:
        raise RenderError("duck music under dialogue", f"ffmpeg returned {len(mixed)} samples, expected {n}")
    return mixed[skip:n]


# ---- loudness ---------------------------------------------------------------------------------------------------

_EBUR128 = {
    "integrated_lufs": re.compile(r"Integrated loudness:\s*I:\s*(-?[\d.]+|-inf)\s*LUFS"),
    "lra_lu": re.compile(r"Loudness range:\s*LRA:\s*(-?[\d.]+|-inf)\s*LU"),
    "true_peak_dbtp": re.compile(r"True peak:\s*Peak:\s*(-?[\d.]+|-inf)\s*dBFS"),
}


def measure_loudness(wav_or_path: bytes | Path | str) -> dict[str, float]:
    """EBU R128 figures of a recording, from ffmpeg's ebur128 filter (peak=true: 4x oversampled true peak):
    {"integrated_lufs", "true_peak_dbtp", "lra_lu"} (0.1 resolution; -inf for silence)."""
    with tempfile.TemporaryDirectory(prefix="naos-audio-") as tmp:
        if isinstance(wav_or_path, (bytes, bytearray)):
            src = Path(tmp) / "in.wav"
            src.write_bytes(wav_or_path)
        else:
            src = Path(wav_or_path).resolve()
        err = _ffmpeg([*GLOBAL_FLAGS, "-nostats", "-i", f"file:{src}", "-map", "0:a:0",
                       "-af", "ebur128=peak=true:framelog=quiet", "-f", "null", "-"],
                      "measure loudness", loglevel="info")  # fmt: skip
    summary = err[err.rfind("Summary:") :]
    out: dict[str, float] = {}
    for key, pattern in _EBUR128.items():
        m = pattern.search(summary)
        if m is None:
            raise RenderError("measure loudness", f"no {key} in the ebur128 summary:\n{summary[-800:]}")
        out[key] = float(m.group(1))
    return out


K_WEIGHTING_SOS = np.array([
    [1.53512485958697, -2.69169618940638, 1.19839281085285, 1.0, -1.69065929318241, 0.73248077421585],
    [1.0, -2.0, 1.0, 1.0, -1.99004745483398, 0.99007225036621],
])  # fmt: skip
HOP = RATE // 10  # gating blocks are 400 ms (4 hops) long and start every 100 ms
ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
TRUE_PEAK_OVERSAMPLING = 4
FULL_SCALE = 32768.0  # int16 full scale, as ffmpeg reads s16 (its ebur128 agrees with these figures)
# normalise: the limiter's ceiling under the true-peak target (the two meters' interpolators differ a little), the
# gain's resolution (a round figure, so a last-bit difference in a measurement cannot change it), how close the
# result's integrated loudness must come to the target, and how many measured corrections to try
LIMIT_MARGIN_DB = 0.1
GAIN_STEP_DB = 0.01
LOUDNESS_TOLERANCE_LU = 0.05
GAIN_TRIES = 3
# the limiter's gain: an S-shaped ramp LIMIT_RAMP_S long before a peak (lookahead), held LIMIT_HOLD_S after it, the
# same ramp back up; computed on blocks of LIMIT_BLOCK samples and interpolated linearly in between
LIMIT_RAMP_S = 0.005
LIMIT_HOLD_S = 0.01  # a pitch period of a low voice: the gain does not wobble within one
LIMIT_BLOCK = 16
_CHUNK = 1 << 20  # samples per chunk of the K-weighting and the interpolator (bounded memory on long episodes)


def _as_float(samples: np.ndarray) -> np.ndarray:
    """int16 samples (or floats in int16 units) as float64 in full scale [-1, 1)."""
    return np.multiply(samples, 1 / FULL_SCALE, dtype=np.float64)  # a power of two: exact, one pass


def _lufs(power: float) -> float:
    return -0.691 + 10 * math.log10(power) if power > 0 else float("-inf")


def _power(lufs: float) -> float:
    return 10 ** ((lufs + 0.691) / 10)


def _gated(hop_energy: np.ndarray) -> float:
    """Integrated loudness (LUFS) from the K-weighted energy of each 100 ms hop: 400 ms blocks, both gates (compared
    as powers, so no array logarithm: those may differ in the last bit between CPUs)."""
    if len(hop_energy) < 4:
        return float("-inf")
    powers = (hop_energy[:-3] + hop_energy[1:-2] + hop_energy[2:-1] + hop_energy[3:]) / (4 * HOP)
    powers = powers[powers > _power(ABSOLUTE_GATE_LUFS)]
    if len(powers) == 0:
        return float("-inf")
    relative = _lufs(float(powers.mean())) + RELATIVE_GATE_LU
    return _lufs(float(powers[powers > _power(relative)].mean()))


def _k_energy(x: np.ndarray, width: int) -> np.ndarray:
    """Energy of the K-weighted signal (x in full scale) in each whole run of `width` samples."""
    from scipy.signal import sosfilt

    runs = len(x) // width
    energy = np.empty(runs)
    state = np.zeros((len(K_WEIGHTING_SOS), 2))  # the filter runs on from chunk to chunk: one pass, in pieces
    step = _CHUNK - _CHUNK % width
    for start in range(0, runs * width, step):
        weighted, state = sosfilt(K_WEIGHTING_SOS, x[start : min(start + step, runs * width)], zi=state)
        weighted = weighted.reshape(-1, width)
        energy[start // width : start // width + len(weighted)] = np.einsum("ij,ij->i", weighted, weighted)
    return energy


def integrated_lufs(samples: np.ndarray) -> float:
    """BS.1770-4 / EBU R128 integrated loudness of int16 samples at RATE (mono), in LUFS; -inf when nothing passes
    the absolute gate (silence)."""
    return _gated(_k_energy(_as_float(samples), HOP))


def true_peak_envelope(samples: np.ndarray, block: int = 1) -> np.ndarray:
    """The largest magnitude (full scale) of the 4x oversampled signal (BS.1770-4 annex 2; scipy's polyphase Kaiser
    interpolator) over each run of `block` samples [k * block, (k + 1) * block), the last run padded with silence:
    the signal between its samples, as a true-peak meter sees it."""
    return _envelope(_as_float(samples), block)


def _envelope(x: np.ndarray, block: int) -> np.ndarray:
    """true_peak_envelope of a full-scale float signal."""
    from scipy.signal import resample_poly

    up, pad, step = TRUE_PEAK_OVERSAMPLING, 64, _CHUNK - _CHUNK % block  # pad: > the interpolator's half length
    blocks = -(-len(x) // block)
    env = np.empty(blocks)
    for start in range(0, blocks * block, step):
        lo, hi = max(0, start - pad), min(len(x), start + step + pad)
        count = min(step, blocks * block - start)
        piece = x[lo:hi].astype(np.float32)  # float32: three times faster, and 1e-7 is plenty for a peak
        piece = np.concatenate([piece, np.zeros(max(0, start + count - hi), dtype=np.float32)])  # the last block
        fine = np.abs(resample_poly(piece, up, 1)[(start - lo) * up : (start - lo + count) * up])
        coarse = np.abs(piece[start - lo : start - lo + count])
        env[start // block : (start + count) // block] = np.maximum(
            fine.reshape(count // block, block * up).max(axis=1), coarse.reshape(count // block, block).max(axis=1))
    return env


def true_peak_dbtp(samples: np.ndarray) -> float:
    peak = float(true_peak_envelope(samples).max(initial=0.0))
    return 20 * math.log10(peak) if peak > 0 else float("-inf")


def _sliding_min(values: np.ndarray, before: int, after: int) -> np.ndarray:
    """out[k] = min(values[k - before .. k + after]), 1.0 beyond the ends."""
    from scipy.ndimage import minimum_filter1d

    size = before + after + 1
    padded = np.concatenate([np.ones(before), values, np.ones(after)])
    return minimum_filter1d(padded, size)[size // 2 : size // 2 + len(values)]


def _trailing_mean(values: np.ndarray, size: int) -> np.ndarray:
    """out[n] = mean(values[n - size + 1 .. n]), the first value repeated before the start."""
    padded = np.concatenate([np.full(size, values[0]), values])
    sums = np.cumsum(padded)
    return (sums[size:] - sums[:-size]) / size


def limiter_gain(required: np.ndarray, *, ramp: int, hold: int) -> np.ndarray:
    """Node values of a smooth gain curve, one per block, with the curve between nodes k and k + 1 (linear) never
    above `required[k]` (each block's largest allowed gain, <= 1): each dip is held `hold` blocks after it and met
    by an S-shaped ramp about `ramp` blocks long on either side (two trailing means of half that length over a
    sliding minimum that looks that far ahead, so every mean stays under the blocks it ends on and the next)."""
    half = max(1, ramp // 2)
    floor = _sliding_min(np.append(required, 1.0), before=max(1, hold), after=2 * half - 1)
    return np.minimum(_trailing_mean(_trailing_mean(floor, half), half), 1.0)


def normalise(samples: np.ndarray, target_lufs: float, true_peak_db: float) -> tuple[np.ndarray, dict]:
    """int16 `samples` at `target_lufs` integrated with the true peak at most `true_peak_db`: one linear gain (in
    GAIN_STEP_DB steps) and a lookahead limiter on the 4x true-peak envelope, LIMIT_MARGIN_DB under the ceiling.
    Limiting lowers the loudness, so the gain is solved for (on block energies, c·K(x) standing in for K(c·x)), then
    the result is measured and the gain corrected until it is within LOUDNESS_TOLERANCE_LU (up to GAIN_TRIES).
    Returns (int16 samples, report: `gain_db`, `input_lufs`, `output_lufs`, `limited` (the fraction of blocks the
    limiter lowered), `tries`). Silence comes back as it is."""
    samples = np.asarray(samples, dtype=np.int16)
    n, block = len(samples), LIMIT_BLOCK
    x = _as_float(np.concatenate([samples, np.zeros(-n % HOP, dtype=np.int16)]))
    energy = _k_energy(x, block)  # per block; HOP is a whole number of blocks
    hops = n // HOP
    measured = _gated(energy[: hops * (HOP // block)].reshape(hops, HOP // block).sum(axis=1))
    if not math.isfinite(measured):
        return samples, {"gain_db": 0.0, "input_lufs": measured, "output_lufs": measured, "limited": 0.0, "tries": 0}
    envelope = _envelope(x, block)  # per block, full scale
    ceiling = 10 ** ((true_peak_db - LIMIT_MARGIN_DB) / 20)
    ramp, hold = samples_for(LIMIT_RAMP_S) // block, samples_for(LIMIT_HOLD_S) // block

    def curve(gain_db: float) -> np.ndarray | None:
        gain = 10 ** (gain_db / 20)
        if gain * envelope.max(initial=0.0) <= ceiling:
            return None
        with np.errstate(divide="ignore"):
            return limiter_gain(np.minimum(1.0, ceiling / (gain * envelope)), ramp=ramp, hold=hold)

    def estimate(gain_db: float) -> float:
        nodes = curve(gain_db)
        scale = 10 ** (gain_db / 10) * (1.0 if nodes is None else (nodes[:-1] ** 2 + nodes[1:] ** 2) / 2)
        per_block = energy * scale
        return _gated(per_block[: hops * (HOP // block)].reshape(hops, HOP // block).sum(axis=1))

    def solve(goal: float) -> float:
        """The least gain (a whole number of GAIN_STEP_DB) whose estimated loudness reaches `goal`: the loudness
        rises with the gain, slower once the limiter works, so bracket it and close in by interpolation."""
        lo = math.floor((goal - measured) / GAIN_STEP_DB)  # no limiting: exactly goal; with it, under
        f_lo = estimate(lo * GAIN_STEP_DB)
        if f_lo >= goal:
            return lo * GAIN_STEP_DB
        hi, f_hi, most = lo, f_lo, lo + round(60 / GAIN_STEP_DB)  # past +60 dB the limiter is all there is
        while f_hi < goal:
            if hi >= most:
                return hi * GAIN_STEP_DB
            lo, f_lo = hi, f_hi
            hi = min(most, hi + max(1, math.ceil(2 * (goal - f_hi) / GAIN_STEP_DB)))
            f_hi = estimate(hi * GAIN_STEP_DB)
        bisect = False
        while hi - lo > 1:
            mid = (lo + hi) // 2 if bisect else lo + round((goal - f_lo) / (f_hi - f_lo) * (hi - lo))
            mid = min(max(mid, lo + 1), hi - 1)
            f_mid = estimate(mid * GAIN_STEP_DB)
            width = hi - lo
            lo, f_lo, hi, f_hi = (mid, f_mid, hi, f_hi) if f_mid < goal else (lo, f_lo, mid, f_mid)
            bisect = hi - lo > width // 2  # interpolation that barely narrows the bracket: halve it next
        return hi * GAIN_STEP_DB

    goal = target_lufs
    for attempt in range(1, GAIN_TRIES + 1):
        tries, gain_db = attempt, solve(goal)
        nodes = curve(gain_db)
        out = x * (10 ** (gain_db / 20) * FULL_SCALE)
        if nodes is not None:  # the curve between nodes, block by block
            steps = (nodes[1:] - nodes[:-1])[:, None] * (np.arange(block) / block)[None, :]
            steps += nodes[:-1, None]
            out *= steps.reshape(-1)
        out = np.clip(np.rint(out, out=out), -32768, 32767, out=out)[:n].astype(np.int16)
        result = integrated_lufs(out)
        if abs(result - target_lufs) <= LOUDNESS_TOLERANCE_LU:
            break
        goal += target_lufs - result  # the estimate's bias, measured
    limited = 0.0 if nodes is None else float(np.count_nonzero(nodes[:-1] < 1.0)) / (len(nodes) - 1)
    return out, {"gain_db": round(gain_db, 2), "input_lufs": measured, "output_lufs": result, "limited": limited,
                 "tries": tries}
