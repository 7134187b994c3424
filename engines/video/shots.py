"""One shot → one video-only H.264 clip, deterministically (same inputs, same bytes, on one core or many).

Layout convention (the engine holds no story intelligence, only this mapping):
  background  = plan asset f"background:{shot.environment}"   (opaque 16:9 still)
  characters  = plan assets f"character:{cid}" for cid in shot.characters, left to right (RGBA stills); a resolved
                f"expression:{cid}/{emotion}" for the shot's expression of that character is drawn instead
An asset whose plan entry is "placeholder" (or absent from the plan) is drawn as a flagged placeholder card.

Cost model (RENDERING-NOTES): each still is decoded once and the whole composite (background crop, character
overlays, RGB→YUV) is built on a single frame, which `loop` then repeats; only the camera (one sub-pixel
`perspective` warp for pans, push-ins and Ken Burns) and burned captions run per frame. zoompan is never used (not deterministic).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from schemas.artifacts import FaceRig, RenderPlan, Shot

from .captions import shot_cues, shot_frames, write_ass
from .faces import FaceBox, blink_frames, face_box, mouth_levels, write_face_track
from .ffmpeg import (
    FONT_FILE,
    GLOBAL_FLAGS,
    RenderError,
    ffmpeg_version,
    font_env,
    run_ffmpeg_into,
    video_encode_flags,
)
from .tags import TAG_TOP, TITLE_S, dips, draw_title, tag_fades, title_fades, write_tag

RENDERER_VERSION = "video-preview@5"  # bump whenever the bytes a given input produces change (3: faces, name tags,
# floors, time-of-day grades; 4: over-the-shoulder shots, poses, listeners in the shade; 5: feelings on faces)

# RGB(A) -> BT.709 limited-range YUV, as every picture of a shot is converted (the still, faces, tags, the title)
TO_BT709 = "scale=out_color_matrix=bt709:out_range=tv:flags=bicubic+accurate_rnd+full_chroma_int"
PAN_MARGIN = 0.15  # pans travel over a background 15 % wider than the frame
PUSH_ZOOM = 0.12  # push_in ends 12 % closer than it starts

PLACEHOLDER_BG = "0x1d232b"
PLACEHOLDER_BORDER = "0xb34747"
PLACEHOLDER_TEXT = "0xe8e8e8"
SILHOUETTE_W, SILHOUETTE_H = 360, 800


@dataclass(frozen=True)
class FramingLayout:
    bg_zoom: float  # background crop: 1.0 = the whole still, 1.5 = the central two thirds
    char_height: float  # character overlay height, fraction of the frame height
    char_bottom: float  # where a character's bottom edge sits, fraction of the frame height (>1: cut by the frame)


FRAMINGS: dict[str, FramingLayout] = {
    "establishing": FramingLayout(1.00, 0.42, 0.97),
    "wide": FramingLayout(1.05, 0.58, 1.00),
    "medium": FramingLayout(1.18, 0.82, 1.08),
    "two_shot": FramingLayout(1.12, 0.76, 1.05),
    "over_shoulder": FramingLayout(1.15, 0.80, 1.08),  # the speaker; the listener's shoulder is OTS_* below
    "close_up": FramingLayout(1.45, 1.30, 1.40),
}


# Over the shoulder: the listener in the near foreground at the left edge, from behind (mirrored, in shadow), the
# speaker at OTS_SPEAKER_X of the frame. The listener's head top sits at OTS_HEAD of the frame height.
OTS_LISTENER_H, OTS_HEAD, OTS_LISTENER_X, OTS_SPEAKER_X = 1.9, 0.42, 0.05, 0.62
OTS_SHADE = 0.16  # a near silhouette: the back of someone close to the camera
LISTENER_SHADE = 0.82  # a listener beside the speaker, a little in the shade: the eye goes to who talks
TURNED_SHADE = 0.55  # a character turned away: their back, so no face


def background_asset_id(shot: Shot) -> str:
    return f"background:{shot.environment}"


def character_asset_id(character_id: str) -> str:
    return f"character:{character_id}"


def expression_asset_id(character_id: str, emotion: str) -> str:
    return f"expression:{character_id}/{emotion}"


def shot_asset_ids(shot: Shot) -> list[str]:
    """Every plan asset the shot can draw: its background, each character, and each character's expression."""
    ids = [background_asset_id(shot), *(character_asset_id(c) for c in shot.characters)]
    return ids + [expression_asset_id(c, shot.expressions[c]) for c in shot.characters if c in shot.expressions]


def character_image_id(shot: Shot, plan: RenderPlan, character_id: str) -> str:
    """The expression's image when the character pack has one resolved, else the character's portrait."""
    emotion = shot.expressions.get(character_id)
    if emotion is not None:
        entry = plan.asset(expression_asset_id(character_id, emotion))
        if entry is not None and entry.status == "resolved":
            return entry.asset_id
    return character_asset_id(character_id)


def shot_placeholders(shot: Shot, plan: RenderPlan) -> list[str]:
    """Asset ids this shot renders as placeholders (plan status "placeholder", or absent from the plan)."""
    out = []
    for asset_id in [background_asset_id(shot), *(character_image_id(shot, plan, c) for c in shot.characters)]:
        entry = plan.asset(asset_id)
        if entry is None or entry.status != "resolved":
            out.append(asset_id)
    return out


def shot_render_key(shot: Shot, plan: RenderPlan) -> str:
    """sha256 of everything that determines a clip's bytes: renderer + ffmpeg build, shot, output settings, assets."""
    assets = {}
    for asset_id in shot_asset_ids(shot):
        entry = plan.asset(asset_id)
        if entry is None or entry.status != "resolved":
            assets[asset_id] = None
        else:  # the bytes, and what the plan says about them that changes the picture
            assets[asset_id] = [entry.sha256, *(entry.model_dump(mode="json", include={"face", "floor", "time_of_day"})
                                                .values())]
    payload = {
        "renderer": RENDERER_VERSION,
        "ffmpeg": ffmpeg_version(),
        "font_sha256": hashlib.sha256(FONT_FILE.read_bytes()).hexdigest(),
        "shot": shot.model_dump(mode="json"),
        "width": plan.width,
        "height": plan.height,
        "fps": plan.fps,
        "captions": plan.captions.model_dump(mode="json"),
        "encoder": plan.encoder.model_dump(mode="json"),
        "movement": plan.movement(shot),
        "assets": assets,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()


def _even(x: float) -> int:
    return max(2, int(round(x / 2.0)) * 2)


# ---- filter graph ------------------------------------------------------------------------------------------------


@dataclass
class GraphBuilder:
    """Inputs and filter chains of one ffmpeg run; every file a filter reads sits in `workdir` under a plain name,
    and ffmpeg runs with cwd=workdir, so no path ever needs filtergraph escaping."""

    workdir: Path
    fps: int
    inputs: list[str] = field(default_factory=list)
    chains: list[str] = field(default_factory=list)
    n_inputs: int = 0

    def __post_init__(self) -> None:
        fonts = self.workdir / "fonts"
        fonts.mkdir(exist_ok=True)
        link = fonts / FONT_FILE.name
        if not link.exists():
            try:
                link.symlink_to(FONT_FILE)
            except OSError:
                shutil.copyfile(FONT_FILE, link)

    @property
    def fontfile(self) -> str:
        return f"fonts/{FONT_FILE.name}"

    def add_image(self, src: Path, name: str) -> str:
        """Link a still into the workdir and add it as an input; returns its stream label."""
        local = self.workdir / f"{name}{src.suffix.lower() or '.png'}"
        if not local.exists():
            try:
                local.symlink_to(src.resolve())
            except OSError:
                shutil.copyfile(src, local)
        # -framerate: the still's frame duration must be 1/fps, or ffmpeg's CFR output logic (which honours frame
        # durations) repeats the first frame to fill its default 1/25 s — or, for lavfi sources, a whole second.
        self.inputs += ["-framerate", str(self.fps), "-i", local.name]
        self.n_inputs += 1
        return f"[{self.n_inputs - 1}:v]"

    def add_sequence(self, pattern: str) -> str:
        """An image sequence already in the workdir (`name_%05d.png`, from 0) as an input; returns its label."""
        self.inputs += ["-framerate", str(self.fps), "-start_number", "0", "-i", pattern]
        self.n_inputs += 1
        return f"[{self.n_inputs - 1}:v]"

    def text_file(self, name: str, text: str) -> str:
        path = self.workdir / f"{name}.txt"
        path.write_bytes(text.encode("utf-8"))
        return path.name


@dataclass(frozen=True)
class Placement:
    """Where one character is drawn on the shot's still (a CW×H canvas; CW > W for pans): centred on cx, standing
    on `bottom`, w×h px (the silhouette card's height when the image is a placeholder, path None)."""

    character_id: str
    asset_id: str
    path: Path | None
    cx: int
    bottom: int
    w: int
    h: int
    rig: FaceRig | None = None
    face: FaceBox | None = None  # where the face's sprites go, when the image has a face rig
    mirror: bool = False  # drawn flipped: seen from behind (over the shoulder, turned away)
    lying: bool = False  # turned a quarter (clockwise) to lie on the floor: w×h are the lying figure's
    shade: float = 1.0  # 1: as painted; less: in shadow (a listener, a back)

    def filters(self) -> str:
        """The ffmpeg filters that pose and light the scaled image (empty: none)."""
        f = (["hflip"] if self.mirror else []) + (["transpose=clock"] if self.lying else [])
        if self.shade != 1.0:
            f.append(f"colorchannelmixer=rr={self.shade:.2f}:gg={self.shade:.2f}:bb={self.shade:.2f}")
        return ",".join(f)


def canvas_width(shot: Shot, plan: RenderPlan) -> int:
    """The still's width: wider than the frame when the camera pans across it."""
    panning = plan.movement(shot) in ("pan_left", "pan_right", "ken_burns")
    return _even(plan.width * (1 + PAN_MARGIN)) if panning else plan.width


def character_layout(shot: Shot, plan: RenderPlan, asset_paths: dict[str, Path]) -> list[Placement]:
    """The shot's characters, spread left to right across the central frame-wide view, sized for the framing."""
    W, H = plan.width, plan.height
    n = len(shot.characters)
    if not n:
        return []
    layout = FRAMINGS.get(shot.framing, FRAMINGS["medium"])
    shrink = 1.0 if n <= 2 else max(0.55, 2.2 / n)
    char_h = _even(H * layout.char_height * shrink)
    bottom = round(H * layout.char_bottom)
    if n == 1:
        centres = [0.5]
    else:
        lo = max(0.12, 0.5 - 0.125 * n)
        centres = [lo + (1 - 2 * lo) * i / (n - 1) for i in range(n)]
    CW = canvas_width(shot, plan)
    x0 = (CW - W) / 2
    xs = [x0 + c * W for c in centres]
    floor = _floor_on_canvas(shot, plan, asset_paths, CW, layout) if layout.char_bottom <= 1.02 else None
    if floor is not None:  # feet in view: stand on the floor, not on the sea
        a, b = max(floor[0] + char_h * 0.12, x0 + 0.08 * W), min(floor[1] - char_h * 0.12, x0 + 0.92 * W)
        if a < b and not all(a <= x <= b for x in xs):
            xs = [(a + b) / 2] if n == 1 else [a + (b - a) * (i + 0.5) / n for i in range(n)]
    ots = shot.framing == "over_shoulder" and n == 2
    if ots:
        xs = [x0 + OTS_SPEAKER_X * W, x0 + OTS_LISTENER_X * W]
    speakers = {ln.speaker_id for ln in shot.lines} & set(shot.characters)
    out = []
    for i, cid in enumerate(shot.characters):
        asset_id = character_image_id(shot, plan, cid)
        path = _resolved_path(plan, asset_id, asset_paths, shot.id)
        cx, h, b = round(xs[i]), char_h, bottom
        if ots and i == 1:  # the listener's shoulder, near and big
            h = _even(H * OTS_LISTENER_H)
            b = round(H * OTS_HEAD + 0.9 * h)
        if path is None:
            out.append(Placement(cid, asset_id, None, cx, b, 0, h))
            continue
        try:
            with Image.open(path) as im:
                iw, ih = im.size
        except Exception as exc:  # ffmpeg would fail on it too: say which shot and asset
            raise RenderError(f"render shot {shot.id}", f"asset {asset_id}: {path} is not a readable image ({exc})") from None
        w = _even(iw * h / ih)
        pose = shot.poses.get(cid, "standing")
        shade = OTS_SHADE if ots and i == 1 else TURNED_SHADE if pose == "turned_away" else \
            LISTENER_SHADE if speakers and cid not in speakers else 1.0
        if pose == "lying":  # a quarter turn: as long as the figure was tall, on the floor (a little into it:
            length = _even(h * 0.9)  # the image's transparent margin)
            wide = _even(iw * length / ih)
            out.append(Placement(cid, asset_id, path, cx, b + wide // 5, length, wide, lying=True, shade=shade))
            continue
        mirror = (ots and i == 1) or pose == "turned_away"
        rig = plan.asset(asset_id).face if not mirror else None  # type: ignore[union-attr]
        face = face_box(rig, cx - w / 2, b - h, w / iw, h / ih) if rig else None
        out.append(Placement(cid, asset_id, path, cx, b, w, h, rig, face, mirror=mirror, shade=shade))
    return out


def _floor_on_canvas(shot: Shot, plan: RenderPlan, asset_paths: dict[str, Path], CW: int,
                     layout: FramingLayout) -> tuple[float, float] | None:
    """The background's floor (ResolvedAsset.floor) in canvas pixels, as the background chain scales and crops it."""
    entry = plan.asset(background_asset_id(shot))
    path = _resolved_path(plan, background_asset_id(shot), asset_paths, shot.id)
    if entry is None or entry.floor is None or path is None:
        return None
    with Image.open(path) as im:
        iw, ih = im.size
    zw, zh = _even(CW * layout.bg_zoom), _even(plan.height * layout.bg_zoom)
    sw = max(zw, zh * iw / ih)  # force_original_aspect_ratio=increase, then a centred crop to CW
    return (entry.floor[0] * sw - (sw - CW) / 2, entry.floor[1] * sw - (sw - CW) / 2)


# The light of a shot whose background shows another time (RGB channel gains: integer LUTs in ffmpeg, deterministic).
GRADES = {
    "night": "colorchannelmixer=rr=0.42:gg=0.47:bb=0.70",
    "dusk": "colorchannelmixer=rr=1.0:gg=0.80:bb=0.66",
    "dawn": "colorchannelmixer=rr=0.98:gg=0.88:bb=0.90",
    "day": "colorchannelmixer=rr=1.30:gg=1.30:bb=1.22",
}


def background_grade(shot: Shot, plan: RenderPlan) -> str | None:
    """The grade filter for the shot's background, or None when it already shows the shot's time of day."""
    entry = plan.asset(background_asset_id(shot))
    shows = (entry.time_of_day if entry is not None else None) or "day"
    return None if shows == shot.time_of_day else GRADES[shot.time_of_day]


def _resolved_path(plan: RenderPlan, asset_id: str, asset_paths: dict[str, Path], shot_id: str) -> Path | None:
    entry = plan.asset(asset_id)
    if entry is None or entry.status != "resolved":
        return None
    path = asset_paths.get(asset_id)
    if path is None:
        raise RenderError(f"render shot {shot_id}", f"asset {asset_id} is resolved in the plan but has no file path")
    path = Path(path)
    if not path.is_file():
        raise RenderError(f"render shot {shot_id}", f"asset {asset_id}: file {path} does not exist")
    return path


def _progress_expr(frames: int) -> str:
    """0 → 1 over the shot with ease-in-out (smoothstep), from perspective's input frame number `in` (the still's
    frames are numbered 0..frames-1 by setpts=N)."""
    if frames <= 1:
        return "0"
    p = f"min(1,max(0,(in-1)/{frames - 1}))"  # perspective counts its input frames from 1
    return f"({p}*{p}*(3-2*{p}))"


def _camera_filter(movement: str, W: int, H: int, CW: int, frames: int) -> str:
    """The camera as one `perspective` warp of the CW×H still, then the caller crops W×H at the top left.

    Output pixel (u, v) samples the still at (X + u·k, Y + v·k): X, Y move the view and k = 1/zoom scales it, all
    with fractional values (perspective resamples at 1/256 px, linear), so a slow pan or push-in moves by even
    sub-pixel steps instead of the whole-pixel (and, in yuv420p, two-pixel) steps of a crop offset or an even-sized
    scale. Integer arithmetic inside the filter keeps it byte-identical across runs and core counts."""
    p = _progress_expr(frames)
    travel = CW - W
    x = {"pan_right": f"{travel}*{p}", "pan_left": f"{travel}*(1-{p})", "ken_burns": f"{travel}*{p}"}.get(movement, "0")
    k = f"(1/(1+{PUSH_ZOOM}*{p}))" if movement in ("push_in", "ken_burns") else "1"
    # zooming about the view's centre: the view is W×H wide at k=1, W·k×H·k after
    X = f"({x}+{W}*(1-{k})/2)" if k != "1" else f"({x})"
    Y = f"({H}*(1-{k})/2)" if k != "1" else "0"
    x1, y2 = f"({X}+{CW}*{k})", f"({Y}+{H}*{k})"
    return (f"perspective=x0='{X}':y0='{Y}':x1='{x1}':y1='{Y}':x2='{X}':y2='{y2}':x3='{x1}':y3='{y2}':"
            f"interpolation=linear:sense=source:eval=frame")


def build_shot_chain(
    gb: GraphBuilder,
    shot: Shot,
    plan: RenderPlan,
    asset_paths: dict[str, Path],
    tag: str,
) -> tuple[str, int]:
    """Append the chains that draw `shot` (no captions) to gb; returns (output label, frames).

    The output is plan.width×plan.height yuv420p (BT.709, limited range), time base 1/fps, pts 0..frames-1.
    """
    W, H, fps = plan.width, plan.height, plan.fps
    if W % 2 or H % 2:
        raise RenderError(f"render shot {shot.id}", f"plan size {W}x{H}: yuv420p needs an even width and height")
    frames = shot_frames(shot.duration_s, fps)
    layout = FRAMINGS.get(shot.framing, FRAMINGS["medium"])
    movement = plan.movement(shot)
    CW = canvas_width(shot, plan)
    CH = H
    chains = gb.chains

    # Background, cropped for the framing, on a CW×CH canvas (one frame).
    bg_id = background_asset_id(shot)
    bg_path = _resolved_path(plan, bg_id, asset_paths, shot.id)
    if bg_path is not None:
        src = gb.add_image(bg_path, f"{tag}_bg")
        zw, zh = _even(CW * layout.bg_zoom), _even(CH * layout.bg_zoom)
        grade = background_grade(shot, plan)
        chains.append(
            f"{src}format=rgb24,scale=w={zw}:h={zh}:force_original_aspect_ratio=increase:flags=lanczos,"
            f"crop={CW}:{CH},{grade + ',' if grade else ''}setsar=1[{tag}_bg]"
        )
    else:
        text = gb.text_file(f"{tag}_bg", f"MISSING ASSET {bg_id}")
        size = max(10, round(H / 22))
        border = max(2, round(H / 90))
        chains.append(
            f"color=c={PLACEHOLDER_BG}:s={CW}x{CH}:r={fps}:d=1,trim=end_frame=1,format=rgb24,"
            f"drawbox=x=0:y=0:w=iw:h=ih:color={PLACEHOLDER_BORDER}:t={border},"
            f"drawtext=fontfile={gb.fontfile}:textfile={text}:expansion=none:fontsize={size}:"
            f"fontcolor={PLACEHOLDER_TEXT}:x=(w-text_w)/2:y=(h-text_h)/2,setsar=1[{tag}_bg]"
        )
    base = f"[{tag}_bg]"

    # Characters, spread left to right across the central W-wide view, composited onto the single frame.
    faces: list[tuple[str, Placement]] = []
    places = character_layout(shot, plan, asset_paths)
    for i, p in enumerate(places):
        label = f"{tag}_c{i}"
        if p.path is not None:
            src = gb.add_image(p.path, label)
            w, h = (p.h, p.w) if p.lying else (p.w, p.h)  # scaled upright, then turned
            pose = p.filters()
            chains.append(f"{src}format=rgba,scale=w={w}:h={h}:flags=lanczos,{pose + ',' if pose else ''}setsar=1"
                          f"[{label}]")
            if p.face is not None:
                faces.append((f"{tag}_f{i}", p))
        else:
            chains.append(_silhouette_chain(gb, p.character_id, label, p.h))
        out = f"[{tag}_k{i}]"
        chains.append(f"{base}[{label}]overlay=x={p.cx}-w/2:y={p.bottom}-h:format=rgb:eval=init{out}")
        base = out

    # To YUV once, then repeat the frame: everything above ran on one frame only.
    chains.append(
        f"{base}{TO_BT709},"
        f"format=yuv420p,loop=loop={frames - 1}:size=1,settb=1/{fps},setpts=N[{tag}_still]"
    )
    still = f"[{tag}_still]"
    # Faces: each face box's sprite for the frame (blinks, the speaker's mouth), over the repeated still.
    for name, p in faces:
        assert p.rig is not None and p.face is not None
        box = p.face
        shut = blink_frames(shot.id, p.character_id, frames, fps)
        mouth = mouth_levels(shot, p.character_id, frames, fps)
        src = gb.add_sequence(write_face_track(gb.workdir, name, p.rig, box, [(f in shut, mouth[f]) for f in
                                                                              range(frames)], shade=p.shade,
                                               emotion=shot.expressions.get(p.character_id)))
        chains.append(f"{src}{TO_BT709},"
                      f"format=yuva420p,settb=1/{fps},setpts=N[{name}]")
        chains.append(f"{still}[{name}]overlay=x={box.x}:y={box.y}:format=yuv420:eval=init[{name}_on]")
        still = f"[{name}_on]"
    # Name tags over the heads of the characters this shot introduces (on the chest when the head is out of frame),
    # fading in and out; a tag that would cover another's moves up.
    placed: list[tuple[int, int, int, int]] = []
    for i, p in enumerate(places):
        if p.character_id not in shot.introduces:
            continue
        name = f"{tag}_t{i}"
        file, tw, th = write_tag(gb.workdir, name, shot.introduces[p.character_id], H)
        src = gb.add_image(gb.workdir / file, name)
        x = min(max(round(p.cx - tw / 2), H // 40), CW - tw - H // 40) // 2 * 2
        above = p.bottom - p.h - th - H // 60
        y = above if above >= H // 16 else round(H * TAG_TOP)
        while any(x < bx + bw and bx < x + tw and y < by + bh and by < y + th for bx, by, bw, bh in placed):
            y -= th + H // 90
        y = max(0, y) // 2 * 2
        placed.append((x, y, tw, th))
        after = TITLE_S[1] + 0.2 if shot.title else 0.0  # tags wait for the title to go
        chains.append(f"{src}{TO_BT709},"
                      f"format=yuva420p,loop=loop={frames - 1}:size=1,settb=1/{fps},setpts=N,"
                      f"{tag_fades(frames, fps, after)}[{name}]")
        chains.append(f"{still}[{name}]overlay=x={x}:y={y}:format=yuv420:eval=init[{name}_on]")
        still = f"[{name}_on]"
    out = f"[{tag}_v]"
    moved = f"[{tag}_cam]"
    if movement in ("pan_left", "pan_right", "push_in", "ken_burns"):
        chains.append(f"{still}{_camera_filter(movement, W, H, CW, frames)},crop={W}:{H}:0:0{moved}")
    else:
        chains.append(f"{still}null{moved}")
    if shot.title:  # screen-fixed, over the moving picture
        name = f"{tag}_title"
        img = draw_title(shot.title, W, H)
        img.save(gb.workdir / f"{name}.png", format="PNG", compress_level=6)
        src = gb.add_image(gb.workdir / f"{name}.png", name)
        chains.append(f"{src}{TO_BT709},"
                      f"format=yuva420p,loop=loop={frames - 1}:size=1,settb=1/{fps},setpts=N,"
                      f"{title_fades(frames, fps)}[{name}]")
        y = round(H * 0.40 - img.height / 2) // 2 * 2
        chains.append(f"{moved}[{name}]overlay=x=0:y={y}:format=yuv420:eval=init[{name}_on]")
        moved = f"[{name}_on]"
    dip = dips(frames, fps, into=shot.template == "establishing", out_of=shot.ends_scene)
    chains.append(f"{moved}{dip or 'null'}{out}")
    return out, frames


def _silhouette_chain(gb: GraphBuilder, character_id: str, label: str, height: int) -> str:
    """A grey head-and-shoulders silhouette (rounded body) with the character id, on a transparent card."""
    w, h = SILHOUETTE_W, SILHOUETTE_H
    cx, head_y, head_r = w // 2, 150, 100
    body_top, half_w, radius = 270, 140, 60
    alpha = (
        f"if(lte(hypot(X-{cx},Y-{head_y}),{head_r}),255,"
        f"if(gte(Y,{body_top})*lte(abs(X-{cx}),{half_w})*"
        f"lte(hypot(max(0,abs(X-{cx})-{half_w - radius}),max(0,{body_top + radius}-Y)),{radius}),255,0))"
    )
    text = gb.text_file(label, character_id)
    size = max(14, min(44, int((w - 60) / (0.62 * max(1, len(character_id))))))
    return (
        f"color=c=black@0:s={w}x{h}:r={gb.fps}:d=1,trim=end_frame=1,format=rgba,"
        f"geq=r=128:g=132:b=140:a='{alpha}',"
        f"drawtext=fontfile={gb.fontfile}:textfile={text}:expansion=none:fontsize={size}:fontcolor=0x1e1e1e:"
        f"x=(w-text_w)/2:y={body_top + 160},"
        f"scale=w=-2:h={height}:flags=lanczos,setsar=1[{label}]"
    )


def caption_filter(ass_name: str) -> str:
    return f"subtitles=filename={ass_name}:fontsdir=fonts"


# ---- render ------------------------------------------------------------------------------------------------------


def render_shot(shot: Shot, plan: RenderPlan, asset_paths: dict[str, Path], out_path: Path) -> int:
    """Render one shot to a video-only MP4 at out_path (written atomically); returns the number of frames."""
    out_path = Path(out_path).resolve()
    with tempfile.TemporaryDirectory(prefix="naos-shot-") as tmp:
        workdir = Path(tmp)
        gb = GraphBuilder(workdir, plan.fps)
        label, frames = build_shot_chain(gb, shot, plan, asset_paths, "s")
        cues = shot_cues(shot, shot_length_s=frames / plan.fps, label=plan.captions.speaker_labels) \
            if plan.captions.burn_in else []
        if cues:
            write_ass(cues, workdir / "captions.ass", width=plan.width, height=plan.height, captions=plan.captions)
            gb.chains.append(f"{label}{caption_filter('captions.ass')}[out]")
            label = "[out]"
        args = [
            "-y", *GLOBAL_FLAGS, *gb.inputs,
            "-filter_complex", ";".join(gb.chains),
            "-map", label, "-frames:v", str(frames),
            *video_encode_flags(plan.encoder, plan.fps),
            "-an", "-f", "mp4",
        ]  # fmt: skip
        run_ffmpeg_into(out_path, args, f"render shot {shot.id}", cwd=workdir, env=font_env(workdir))
    return frames
