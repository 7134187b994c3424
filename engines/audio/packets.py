"""Recording packets (seed 000 Audio Engine): every line of an episode for human voice actors, grouped by speaker,
with the line ids the TTS takes use, so a studio take can replace a TTS take line by line."""

from __future__ import annotations

import csv
import io

from schemas import RecordingLine, RecordingPacket, ShotList

PACKET_VERSION = "recording-packet@1"
CSV_FIELDS = ["speaker_id", "speaker_name", "line_id", "shot_id", "scene_id", "text", "emotion", "target_duration_s",
              "scene_context"]


def recording_packet(shot_list: ShotList) -> RecordingPacket:
    """Lines by speaker (in order of first appearance), each speaker's lines in episode order."""
    lines = [
        RecordingLine(speaker_id=ln.speaker_id, speaker_name=ln.speaker_name, line_id=ln.line_id, shot_id=shot.id,
                      scene_id=shot.scene_id, text=ln.text, emotion=ln.emotion,
                      target_duration_s=round(ln.end_s - ln.start_s, 3), scene_context=shot.environment_notes)
        for shot in shot_list.shots for ln in shot.lines
    ]
    first = {}
    for i, ln in enumerate(lines):
        first.setdefault(ln.speaker_id, i)
    lines.sort(key=lambda ln: first[ln.speaker_id])  # stable: episode order within a speaker
    return RecordingPacket.new(episode_id=shot_list.episode_id, timing_lock_hash=shot_list.timing_lock_hash,
                               lines=lines)


def packet_csv(packet: RecordingPacket) -> bytes:
    """The same packet as CSV (RFC 4180, \\r\\n rows, UTF-8), for a spreadsheet in the studio."""
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS)
    writer.writeheader()
    for ln in packet.lines:
        writer.writerow({k: getattr(ln, k) for k in CSV_FIELDS})
    return out.getvalue().encode("utf-8")
