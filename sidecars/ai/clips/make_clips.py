#!/usr/bin/env python3
"""Synthetic test footage for vigia-ai: Brazilian plates on cars driving across a street.

Each clip is H.264 in MP4 (default 1280x720, 25 fps, a keyframe every 25 frames, no B-frames:
what a city camera sends) with a ground-truth JSON file beside it (`<clip>.json`) naming every
plate shown, its format, the frames in which it is wholly in the picture and its box on each
keyframe. Plates are random strings from the seed, in both formats (Mercosul `ABC1D23`, old
`ABC-1234`), drawn with one of several fonts, slightly rotated and skewed, with motion blur and,
in night clips, dark noisy frames. They are not taken from any register: no real person's plate.
`--no-plates` makes the same scenes with cars that carry no plate (false-positive footage); a
street sign with a word on it (`PARE`, `ESCOLA`...) is in every scene as text that is not a
plate.

    make_clips.py --out DIR [--clips N] [--seed S] [--seconds T] [--size WxH] [--night P]
                  [--exposure MIN,MAX] [--no-plates] [--ffmpeg PATH] [--still]

`--still` writes one raw RGB frame per scene instead of a clip (`still-NNN.rgb` and
`still-NNN.json`: size, the plate and its box), for the OCR test (sidecars/ai/tests/ocr.rs).

Needs Pillow and numpy (scripts/install-deps.sh puts them in a virtualenv,
$VIGIA_TOOLS/clips, default ~/.cache/vigia-tools/clips) and ffmpeg with libx264.
Generated clips are not committed (sidecars/ai/clips/.gitignore).
"""

import argparse
import json
import random
import string
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT_DIRS = [Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/truetype/liberation")]
# Fonts close to the plates' condensed sans (FE-Schrift on Mercosul, Mandatory on old plates),
# plus a mono and a serif so a reader does not learn one typeface.
FONT_NAMES = [
    "DejaVuSansCondensed-Bold.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSansMono-Bold.ttf",
    "LiberationSansNarrow-Bold.ttf",
    "LiberationSans-Bold.ttf",
    "LiberationMono-Bold.ttf",
    "LiberationSerif-Bold.ttf",
]
SIGN_WORDS = ["PARE", "ESCOLA", "DEVAGAR", "PEDESTRE", "ONIBUS"]
UFS = ["SP", "RJ", "MG", "RS", "PR", "SC", "BA", "PE", "CE", "GO"]
PLATE_W, PLATE_H = 400, 130  # the real plate is 400 x 130 mm


def fonts():
    """Paths of the available plate fonts; at least two are needed."""
    found = [d / n for n in FONT_NAMES for d in FONT_DIRS if (d / n).exists()]
    if len(found) < 2:
        sys.exit("make_clips: fonts missing (fonts-dejavu-core, fonts-liberation); "
                 "run scripts/install-deps.sh")
    return found


def random_plate(rng):
    """(plate without dash, printed text, format) with random characters."""
    letters = "".join(rng.choice(string.ascii_uppercase) for _ in range(3))
    if rng.random() < 0.5:
        plate = f"{letters}{rng.randrange(10)}{rng.choice(string.ascii_uppercase)}{rng.randrange(100):02d}"
        return plate, plate, "mercosul"
    digits = f"{rng.randrange(10000):04d}"
    return f"{letters}{digits}", f"{letters}-{digits}", "old"


def fit_font(path, text, width, height):
    """The largest size of the font at `path` that fits `text` in width x height."""
    size = height
    while size > 8:
        font = ImageFont.truetype(str(path), size)
        left, top, right, bottom = font.getbbox(text)
        if right - left <= width and bottom - top <= height:
            return font
        size -= 2
    return ImageFont.truetype(str(path), 8)


def draw_centered(draw, box, text, font, fill):
    """Draws `text` centred in box (x0, y0, x1, y1)."""
    left, top, right, bottom = font.getbbox(text)
    x = (box[0] + box[2] - (right - left)) / 2 - left
    y = (box[1] + box[3] - (bottom - top)) / 2 - top
    draw.text((x, y), text, font=font, fill=fill)


def render_plate(printed, fmt, font_path, rng):
    """The plate as an RGBA image, PLATE_W x PLATE_H, front view."""
    mercosul = fmt == "mercosul"
    img = Image.new("RGBA", (PLATE_W, PLATE_H), (250, 250, 250, 255) if mercosul else (185, 185, 180, 255))
    d = ImageDraw.Draw(img)
    d.rectangle((0, 0, PLATE_W - 1, PLATE_H - 1), outline=(20, 20, 20, 255), width=4)
    band = int(PLATE_H * 0.22)
    small = ImageFont.truetype(str(fonts()[0]), int(band * 0.7))
    if mercosul:
        d.rectangle((4, 4, PLATE_W - 5, band), fill=(20, 60, 160, 255))
        draw_centered(d, (4, 4, PLATE_W - 5, band), "BRASIL", small, (255, 255, 255, 255))
    else:
        draw_centered(d, (4, 4, PLATE_W - 5, band), f"{rng.choice(UFS)} - MUNICIPIO", small, (20, 20, 20, 255))
    font = fit_font(font_path, printed, int(PLATE_W * 0.88), int((PLATE_H - band) * 0.78))
    draw_centered(d, (4, band + 2, PLATE_W - 5, PLATE_H - 6), printed, font, (10, 10, 10, 255))
    return img


def skew(img, rng, rotation):
    """`img` rotated by `rotation` degrees and seen slightly from the side (perspective)."""
    w, h = img.size
    dx, dy = rng.uniform(-0.08, 0.08) * w, rng.uniform(-0.08, 0.08) * h
    # Where the output corners come from in the input (PIL wants the inverse mapping).
    src = [(0, 0), (w, 0), (w, h), (0, h)]
    dst = [(max(dx, 0), max(dy, 0)), (w - max(-dx, 0), max(-dy, 0)),
           (w - max(-dx, 0), h - max(-dy, 0)), (max(dx, 0), h - max(dy, 0))]
    coeffs = perspective_coeffs(dst, src)
    out = img.transform((w, h), Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BICUBIC)
    return out.rotate(rotation, resample=Image.Resampling.BICUBIC, expand=True)


def perspective_coeffs(dst, src):
    """The 8 coefficients mapping output points `dst` to input points `src`."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(dst, src):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs += [u, v]
    return np.linalg.solve(np.array(rows, float), np.array(rhs, float)).tolist()


def motion_blur(img, length):
    """Horizontal motion blur over `length` pixels (a car moving across)."""
    if length < 2:
        return img
    a = np.asarray(img).astype(np.float32)
    kernel = np.ones(length, np.float32) / length
    out = np.apply_along_axis(lambda row: np.convolve(row, kernel, mode="same"), 1, a)
    return Image.fromarray(out.clip(0, 255).astype(np.uint8), img.mode)


def render_car(width, plate_img, rng):
    """(car RGBA image, plate box within it or None)."""
    height = int(width * 0.55)
    car = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    d = ImageDraw.Draw(car)
    body = tuple(rng.randrange(30, 230) for _ in range(3)) + (255,)
    d.rounded_rectangle((0, int(height * 0.25), width - 1, int(height * 0.88)), radius=width // 20, fill=body)
    d.rounded_rectangle((int(width * 0.18), 0, int(width * 0.82), int(height * 0.4)), radius=width // 25, fill=body)
    d.rectangle((int(width * 0.24), int(height * 0.06), int(width * 0.76), int(height * 0.34)), fill=(60, 80, 100, 255))
    for cx in (0.2, 0.8):
        x = int(width * cx)
        d.ellipse((x - width // 10, int(height * 0.72), x + width // 10, height - 1), fill=(15, 15, 15, 255))
    for lx in (0.06, 0.84):  # lamps
        d.rectangle((int(width * lx), int(height * 0.4), int(width * (lx + 0.1)), int(height * 0.5)), fill=(200, 40, 30, 255))
    if plate_img is None:
        return car, None
    pw = int(width * 0.3)
    ph = int(plate_img.size[1] * pw / plate_img.size[0])
    plate = plate_img.resize((pw, ph), Image.Resampling.LANCZOS)
    x, y = (width - pw) // 2, int(height * 0.52)
    car.alpha_composite(plate, (x, y))
    return car, (x, y, x + pw, y + ph)


def background(w, h, rng):
    """Street scene: sky, buildings, road with lane marks, and a sign with a word."""
    img = Image.new("RGB", (w, h), (135, 170, 200))
    d = ImageDraw.Draw(img)
    horizon = int(h * 0.45)
    x = 0
    while x < w:
        bw = rng.randrange(w // 12, w // 5)
        top = rng.randrange(int(h * 0.08), horizon - 10)
        d.rectangle((x, top, x + bw, horizon), fill=tuple(rng.randrange(90, 200) for _ in range(3)))
        x += bw + rng.randrange(0, w // 30)
    d.rectangle((0, horizon, w, h), fill=(80, 80, 84))
    lane = int(h * 0.7)
    for x in range(0, w, w // 8):
        d.rectangle((x, lane, x + w // 16, lane + max(2, h // 120)), fill=(230, 230, 230))
    sx, sy, ss = rng.randrange(w // 10, w - w // 5), int(h * 0.2), max(30, w // 14)
    d.rectangle((sx + ss // 2 - 3, sy + ss, sx + ss // 2 + 3, horizon), fill=(110, 110, 110))
    d.rectangle((sx - ss // 2, sy, sx + ss + ss // 2, sy + ss), fill=(200, 30, 30))
    word = rng.choice(SIGN_WORDS)
    draw_centered(d, (sx - ss // 2, sy, sx + ss + ss // 2, sy + ss), word, fit_font(fonts()[0], word, 2 * ss - 8, ss // 2), (255, 255, 255))
    return img


def night(frame, noise):
    """Dark, blue-tinted, noisy version of an RGB frame array."""
    dark = frame.astype(np.int16) * np.array([0.28, 0.3, 0.38])
    return (dark + noise).clip(0, 255).astype(np.uint8)


def relight_plate(rgb, box):
    """Brightens `box` of a night frame in place: plates are retroreflective and shine in the
    camera's infrared or the headlights while the scene stays dark."""
    if box is None:
        return
    x0, y0, x1, y1 = box
    region = rgb[y0:y1, x0:x1].astype(np.float32) * 2.6
    rgb[y0:y1, x0:x1] = region.clip(0, 255).astype(np.uint8)


class Car:
    """One car crossing the picture: its sprite, path and ground truth."""

    def __init__(self, args, rng, font_list, start, frames):
        w, h = args.width, args.height
        self.start, self.frames = start, frames
        self.truth = None
        plate_img = None
        if not args.no_plates:
            plate, printed, fmt = random_plate(rng)
            font = rng.choice(font_list)
            rotation = rng.uniform(-5, 5)
            plate_img = skew(render_plate(printed, fmt, font, rng), rng, rotation)
            self.truth = {"plate": plate, "printed": printed, "format": fmt, "font": font.name,
                          "rotationDeg": round(rotation, 2)}
        width = int(w * rng.uniform(0.32, 0.45))
        sprite, self.plate_box = render_car(width, plate_img, rng)
        speed = (w + width) / frames  # pixels per frame
        self.blur = max(1, int(speed * rng.uniform(*args.exposure)))
        self.sprite = motion_blur(sprite, self.blur)
        self.left_to_right = rng.random() < 0.5
        self.width = width
        self.y = int(h * 0.93) - sprite.size[1]

    def x_at(self, frame, w):
        """Left edge of the car at absolute `frame`, or None when it is not on screen."""
        t = frame - self.start
        if not 0 <= t < self.frames:
            return None
        travelled = (w + self.width) * t / self.frames
        return int(travelled - self.width) if self.left_to_right else int(w - travelled)

    def plate_box_on_screen(self, frame, w):
        """The on-screen part of the plate's box at `frame`, or None."""
        x = self.x_at(frame, w)
        if x is None or self.plate_box is None:
            return None
        x0, y0, x1, y1 = self.plate_box
        left, right = max(x + x0, 0), min(x + x1, w)
        return (left, self.y + y0, right, self.y + y1) if left < right else None

    def plate_box_at(self, frame, w):
        """The plate's box (x0, y0, x1, y1) in the picture at `frame`, if wholly inside it."""
        x = self.x_at(frame, w)
        if x is None or self.plate_box is None:
            return None
        x0, y0, x1, y1 = self.plate_box
        box = (x + x0, self.y + y0, x + x1, self.y + y1)
        return box if box[0] >= 0 and box[2] <= w else None


def make_clip(args, index, font_list):
    """Renders clip `index` into args.out and writes its ground truth."""
    rng = random.Random(f"{args.seed}/{index}")
    w, h, fps = args.width, args.height, args.fps
    total = int(args.seconds * fps)
    cross = max(1, int(args.cross_seconds * fps))
    gap = max(1, int(0.4 * fps))
    cars, start = [], 0
    while start + cross <= total or not cars:
        cars.append(Car(args, rng, font_list, start, min(cross, total - start)))
        start += cross + gap
    is_night = rng.random() < args.night
    bg = background(w, h, rng)
    np_rng = np.random.default_rng(rng.randrange(2**32))
    noise = [np_rng.normal(0, 9, (h, w, 3)).astype(np.float32) for _ in range(4)] if is_night else None
    if args.still:
        return write_still(args, index, cars, bg, is_night, noise)
    name = f"clip-{index:03d}"
    mp4 = args.out / f"{name}.mp4"
    enc = subprocess.Popen(ffmpeg_command(args, mp4), stdin=subprocess.PIPE)
    for frame in range(total):
        enc.stdin.write(render_frame(args, cars, bg, is_night, noise, frame).tobytes())
    enc.stdin.close()
    if enc.wait() != 0:
        sys.exit(f"make_clips: ffmpeg failed on {mp4}")
    truth = ground_truth(args, name, cars, total, is_night)
    (args.out / f"{name}.json").write_text(json.dumps(truth, indent=2) + "\n")
    return truth


def render_frame(args, cars, bg, is_night, noise, frame):
    """Frame number `frame` of a scene as an RGB array (height x width x 3)."""
    w = args.width
    img = bg.copy().convert("RGBA")
    for car in cars:
        x = car.x_at(frame, w)
        if x is not None:
            img.alpha_composite(car.sprite, (max(x, 0), car.y), (max(-x, 0), 0))
    rgb = np.asarray(img.convert("RGB"))
    if is_night:
        rgb = night(rgb, noise[frame % len(noise)])
        for car in cars:
            relight_plate(rgb, car.plate_box_on_screen(frame, w))
    return rgb


def write_still(args, index, cars, bg, is_night, noise):
    """--still: the scene's first car in the middle of the frames where its plate is wholly in
    the picture, as raw RGB (`still-NNN.rgb`, width x height x 3 bytes, rows top down) with
    its ground truth in `still-NNN.json`."""
    car = cars[0]
    visible = [f for f in range(car.start, car.start + car.frames) if car.plate_box_at(f, args.width)]
    frame = visible[len(visible) // 2] if visible else car.start + car.frames // 2
    name = f"still-{index:03d}"
    (args.out / f"{name}.rgb").write_bytes(render_frame(args, cars, bg, is_night, noise, frame).tobytes())
    box = car.plate_box_at(frame, args.width)
    truth = {"image": f"{name}.rgb", "seed": args.seed, "width": args.width, "height": args.height,
             "night": is_night, "frame": frame, "plates": [dict(car.truth, box=list(box))] if car.truth and box else []}
    (args.out / f"{name}.json").write_text(json.dumps(truth, indent=2) + "\n")
    return truth


def ground_truth(args, name, cars, total, is_night):
    """The JSON written beside a clip."""
    w = args.width
    plates = []
    for car in cars:
        if car.truth is None:
            continue
        visible = [f for f in range(total) if car.plate_box_at(f, w)]
        if not visible:
            continue
        keyframes = [{"frame": f, "box": list(car.plate_box_at(f, w))} for f in visible if f % args.gop == 0]
        plates.append(dict(car.truth, firstFrame=visible[0], lastFrame=visible[-1],
                           blurPx=car.blur, keyframeBoxes=keyframes))
    return {"clip": f"{name}.mp4", "seed": args.seed, "width": w, "height": args.height,
            "fps": args.fps, "gop": args.gop, "frames": total, "night": is_night,
            "noPlates": args.no_plates, "plates": plates}


def ffmpeg_command(args, out):
    """ffmpeg reading raw RGB frames on stdin and writing camera-like H.264."""
    return [args.ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{args.width}x{args.height}",
            "-r", str(args.fps), "-i", "-",
            "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "main", "-pix_fmt", "yuv420p",
            "-bf", "0", "-g", str(args.gop), "-keyint_min", str(args.gop), "-sc_threshold", "0",
            "-b:v", "2M", "-x264-params", "repeat-headers=1", "-movflags", "+faststart", str(out)]


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="directory for the clips and JSON")
    p.add_argument("--clips", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--cross-seconds", type=float, default=3.0, help="time a car takes to cross")
    p.add_argument("--size", default="1280x720")
    p.add_argument("--fps", type=int, default=25)
    p.add_argument("--gop", type=int, default=25, help="frames between keyframes")
    p.add_argument("--night", type=float, default=0.3, help="share of night clips, 0..1")
    p.add_argument("--no-plates", action="store_true", help="cars without plates")
    p.add_argument("--exposure", default="0.2,0.6",
                   help="shutter time as a share of a frame, MIN,MAX: each car's motion blur is its "
                        "speed times a draw from this range (0.025 is 1/1000 s at 25 fps)")
    p.add_argument("--ffmpeg", default="ffmpeg")
    p.add_argument("--still", action="store_true",
                   help="one raw RGB frame per scene (still-NNN.rgb + .json) instead of clips")
    args = p.parse_args(argv)
    try:
        args.width, args.height = (int(v) for v in args.size.split("x"))
    except ValueError:
        p.error(f"--size {args.size!r} is not WxH")
    if args.width % 2 or args.height % 2:
        p.error("--size needs even width and height (yuv420p)")
    try:
        args.exposure = tuple(float(v) for v in args.exposure.split(","))
    except ValueError:
        args.exposure = ()
    if len(args.exposure) != 2 or not 0 <= args.exposure[0] <= args.exposure[1] <= 1:
        p.error("--exposure needs MIN,MAX with 0 <= MIN <= MAX <= 1 (a share of a frame)")
    return args


def main(argv):
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    font_list = fonts()
    for i in range(args.clips):
        truth = make_clip(args, i, font_list)
        shown = ", ".join(p["printed"] for p in truth["plates"]) or "no plates"
        if args.still:
            print(f"{args.out / truth['image']}: frame {truth['frame']}, {shown}")
        else:
            print(f"{args.out / truth['clip']}: {truth['frames']} frames, {shown}")


if __name__ == "__main__":
    main(sys.argv[1:])
