"""Video engine: shots → deterministic H.264 clips → episode MP4 (plain Python + the bundled ffmpeg, no Dagster).

render_shot(shot, plan, asset_paths, out_path) -> frames        one video-only clip per shot
concat_clips(clip_paths, out_path, plan, audio_path=None)       stream-copy join + one AAC track -> MediaInfo
episode_cues(shot_list) / write_srt, write_vtt(cues, path)      the SRT and WebVTT sidecars
render_one_pass(shot_list, plan, asset_paths, out_path)         the whole timeline in one run (speed floor)
render_end_card(title, lines, seconds, plan, out_path)          a credits card clip that concats with the shots
"""

from .captions import Cue, episode_cues, shot_cues, shot_frames, shot_offsets, write_ass, write_srt, write_vtt
from .card import credits_card_png, render_card, render_end_card
from .episode import concat_clips
from .ffmpeg import FONT_FAMILY, FONT_FILE, MediaInfo, RenderError, ffmpeg_exe, ffmpeg_version, probe, run_ffmpeg
from .floor import render_one_pass
from .shots import (
    RENDERER_VERSION,
    background_asset_id,
    character_asset_id,
    render_shot,
    shot_asset_ids,
    shot_placeholders,
    shot_render_key,
)

__all__ = [
    "FONT_FAMILY",
    "FONT_FILE",
    "RENDERER_VERSION",
    "Cue",
    "MediaInfo",
    "RenderError",
    "background_asset_id",
    "character_asset_id",
    "concat_clips",
    "credits_card_png",
    "episode_cues",
    "ffmpeg_exe",
    "ffmpeg_version",
    "probe",
    "render_card",
    "render_end_card",
    "render_one_pass",
    "render_shot",
    "run_ffmpeg",
    "shot_asset_ids",
    "shot_cues",
    "shot_frames",
    "shot_offsets",
    "shot_placeholders",
    "shot_render_key",
    "write_ass",
    "write_srt",
    "write_vtt",
]
