"""AssetManifest (§5.7): what the shots need, derived from the ShotList. No provider references."""

from __future__ import annotations

from pathlib import PurePosixPath

from schemas import AssetManifest, AssetNeed, BeatMarker, Project, ShotList, VOLine

MANIFEST_VERSION = "manifest@4"  # + names for generated stand-ins, character pack expressions


def pack_folder(portrait: str | None, character_id: str) -> str:
    """A character pack's folder: where `characters/<id>/portrait.png` lives, or `characters/<id>` beside a flat
    `characters/<id>.png` portrait."""
    path = PurePosixPath(portrait or f"characters/{character_id}.png")
    return str(path.parent) if path.stem == "portrait" else str(path.parent / character_id)
MUSIC_BED = "music:bed"
# What build_manifest reads of the project: the asset_manifest stage's cache key hashes these fields only.
PROJECT_FIELDS = ("characters.id", "characters.name", "characters.description", "characters.portrait",
                  "locations.id", "locations.name", "locations.description", "locations.background", "audio.music_bed")
FAST = {"angry", "urgent", "afraid", "excited"}
SLOW = {"sad", "grief", "whisper", "tired"}


def build_manifest(shot_list: ShotList, project: Project) -> AssetManifest:
    backgrounds: dict[str, AssetNeed] = {}
    characters: dict[str, AssetNeed] = {}
    vo: list[VOLine] = []
    markers: list[BeatMarker] = []
    at = 0.0
    for shot in shot_list.shots:
        if shot.action_beats:
            markers.append(BeatMarker(kind="action", ref=shot.id, shot_id=shot.id, at_s=round(at, 3)))
        for line in shot.lines:
            markers.append(BeatMarker(kind="line_start", ref=line.line_id, shot_id=shot.id,
                                      at_s=round(at + line.start_s, 3)))
            markers.append(BeatMarker(kind="line_end", ref=line.line_id, shot_id=shot.id,
                                      at_s=round(at + line.end_s, 3)))
        at += shot.duration_s
        loc = project.location(shot.environment)
        assert loc is not None, f"shot {shot.id}: unknown location {shot.environment}"
        need = backgrounds.setdefault(loc.id, AssetNeed(
            asset_id=f"background:{loc.id}", kind="background", name=loc.name, description=loc.description or loc.name,
            library_path=loc.background or f"backgrounds/{loc.id}.png"))
        need.shots.append(shot.id)
        for cid in shot.characters:
            ch = project.character(cid)
            assert ch is not None, f"shot {shot.id}: unknown character {cid}"
            need = characters.setdefault(cid, AssetNeed(
                asset_id=f"character:{cid}", kind="character", name=ch.name, description=ch.description or ch.name,
                library_path=ch.portrait or f"characters/{cid}.png"))
            need.shots.append(shot.id)
        for cid, emotion in shot.expressions.items():  # optional: the character pack's image for this emotion
            ch = project.character(cid)
            if ch is None or emotion == "neutral":
                continue
            need = characters.setdefault(f"{cid}/{emotion}", AssetNeed(
                asset_id=f"expression:{cid}/{emotion}", kind="expression", name=f"{ch.name} ({emotion})",
                description=f"{ch.description or ch.name}; expression: {emotion}",
                library_path=f"{pack_folder(ch.portrait, cid)}/expressions/{emotion}.png"))
            need.shots.append(shot.id)
        for line in shot.lines:
            pacing = "fast" if line.emotion in FAST else "slow" if line.emotion in SLOW else "normal"
            vo.append(VOLine(line_id=line.line_id, shot_id=shot.id, speaker_id=line.speaker_id, text=line.text,
                             emotion=line.emotion, pacing=pacing))
    sfx: dict[str, AssetNeed] = {}
    for shot in shot_list.shots:
        for tag in shot.audio_intent.sfx_tags:
            sfx.setdefault(tag, AssetNeed(asset_id=f"sfx:{tag}", kind="sfx", description=f"sound effect: {tag}",
                                          library_path=f"sfx/{tag}.wav")).shots.append(shot.id)
    music = [AssetNeed(asset_id=MUSIC_BED, kind="music", description="music bed under the dialogue",
                       library_path=project.audio.music_bed, shots=[s.id for s in shot_list.shots])
             ] if project.audio.music_bed else []
    return AssetManifest.new(
        episode_id=shot_list.episode_id, timing_lock_hash=shot_list.timing_lock_hash,
        backgrounds=sorted(backgrounds.values(), key=lambda n: n.asset_id),
        character_packs=sorted(characters.values(), key=lambda n: n.asset_id),
        vo_lines=vo, beat_markers=markers, sfx=sorted(sfx.values(), key=lambda n: n.asset_id), music=music,
    )
