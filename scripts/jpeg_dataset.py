#!/usr/bin/env python3
"""Real-looking image data sets from shapes-world scenes, made with Pillow, for maia's tests
and benchmarks (no data set can be downloaded here).

    python scripts/jpeg_dataset.py convert --src PNG_DIR --out DIR [--size 500x375] [--quality 90]
        [--layout flat|classes|shards] [--per-shard 100] [--limit N]
    python scripts/jpeg_dataset.py variants --out DIR

`convert` turns every PNG of a shapes-world data set (`maia world dataset`) into a JPEG of
an ImageNet-like size (500 x 375, quality 90, 4:2:0), laid out flat, in class folders named
like ImageNet synsets (from the scene's first shape) with a LOC_synset_mapping.txt, or as
WebDataset tar shards (`000000.tar`, ... with `.jpg` and `.cls` members and a classes.txt).

`variants` writes one file per format variant maia must read (baseline, progressive,
grayscale, CMYK and EXIF-rotated JPEGs, a PNG named .JPEG, 16-bit and palette PNGs, lossless
WebP) and, for each, `NAME.rgb` (Pillow's decode with the EXIF orientation applied, RGB
bytes) and `NAME.json` (width, height), which tests compare against.
"""
import argparse
import io
import json
import os
import tarfile

from PIL import Image, ImageOps

def scene_class(scenes, name):
    scene = scenes.get(name) or {}
    objects = scene.get("objects") or []
    kind = objects[0].get("shape", "none") if objects else "none"
    return kind if isinstance(kind, str) else "none"


def convert(a):
    width, height = (int(v) for v in a.size.split("x"))
    scenes = {}
    index = os.path.join(a.src, "scenes.jsonl")
    if os.path.exists(index):
        with open(index) as f:
            for line in f:
                entry = json.loads(line)
                scenes[entry["file"]] = entry.get("scene")
    names = sorted(n for n in os.listdir(a.src) if n.lower().endswith(".png"))
    if a.limit:
        names = names[: a.limit]
    os.makedirs(a.out, exist_ok=True)
    classes = sorted({scene_class(scenes, n) for n in names})
    synset = {c: f"n{10000000 + i:08d}" for i, c in enumerate(classes)}
    if a.layout == "classes":
        with open(os.path.join(a.out, "LOC_synset_mapping.txt"), "w") as f:
            for c in classes:
                f.write(f"{synset[c]} {c}, a shape\n")
    if a.layout == "shards":
        with open(os.path.join(a.out, "classes.txt"), "w") as f:
            for c in classes:
                f.write(f"{c}\n")
    shard = None
    for i, name in enumerate(names):
        image = Image.open(os.path.join(a.src, name)).convert("RGB").resize((width, height), Image.BICUBIC)
        data = io.BytesIO()
        image.save(data, "JPEG", quality=a.quality)
        data = data.getvalue()
        stem = os.path.splitext(name)[0]
        cls = scene_class(scenes, name)
        if a.layout == "flat":
            path = os.path.join(a.out, stem + ".jpg")
        elif a.layout == "classes":
            folder = os.path.join(a.out, synset[cls])
            os.makedirs(folder, exist_ok=True)
            path = os.path.join(folder, stem + ".JPEG")
        else:
            if i % a.per_shard == 0:
                if shard:
                    shard.close()
                shard = tarfile.open(os.path.join(a.out, f"{i // a.per_shard:06d}.tar"), "w")
            for ext, payload in (("jpg", data), ("cls", str(classes.index(cls)).encode())):
                member = tarfile.TarInfo(f"{stem}.{ext}")
                member.size = len(payload)
                shard.addfile(member, io.BytesIO(payload))
            continue
        with open(path, "wb") as f:
            f.write(data)
    if shard:
        shard.close()
    print(f"{len(names)} images -> {a.out} ({a.layout}, {width}x{height}, q{a.quality})")


def photo(width=64, height=48):
    image = Image.new("RGB", (width, height))
    image.putdata([((x * 4) % 256, (y * 5) % 256, (x * y) % 200) for y in range(height) for x in range(width)])
    return image


def variants(a):
    os.makedirs(a.out, exist_ok=True)
    base = photo()
    files = {}

    def save(name, image, fmt, **kw):
        data = io.BytesIO()
        image.save(data, fmt, **kw)
        files[name] = data.getvalue()

    save("baseline.jpg", base, "JPEG", quality=90)
    save("progressive.jpg", base, "JPEG", quality=90, progressive=True)
    save("gray.jpg", base.convert("L"), "JPEG", quality=90)
    save("cmyk.jpg", base.convert("CMYK"), "JPEG", quality=95)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to view
    save("rotated.jpg", base, "JPEG", quality=90, exif=exif.tobytes())
    save("png_named.JPEG", base, "PNG")
    save("palette.png", base.convert("P", palette=Image.ADAPTIVE, colors=16), "PNG")
    save("gray16.png", base.convert("I;16"), "PNG")
    save("rgba.png", base.convert("RGBA"), "PNG")
    save("lossless.webp", base, "WEBP", lossless=True)
    for name, data in files.items():
        with open(os.path.join(a.out, name), "wb") as f:
            f.write(data)
        seen = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
        if seen.mode == "I;16":
            seen = seen.point(lambda v: v / 256).convert("L")
        seen = seen.convert("RGB")
        with open(os.path.join(a.out, name + ".rgb"), "wb") as f:
            f.write(seen.tobytes())
        with open(os.path.join(a.out, name + ".json"), "w") as f:
            json.dump({"width": seen.width, "height": seen.height}, f)
    print(f"{len(files)} variants -> {a.out}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("convert")
    c.add_argument("--src", required=True)
    c.add_argument("--out", required=True)
    c.add_argument("--size", default="500x375")
    c.add_argument("--quality", type=int, default=90)
    c.add_argument("--layout", choices=["flat", "classes", "shards"], default="flat")
    c.add_argument("--per-shard", type=int, default=100)
    c.add_argument("--limit", type=int, default=0)
    v = sub.add_parser("variants")
    v.add_argument("--out", required=True)
    a = p.parse_args()
    convert(a) if a.cmd == "convert" else variants(a)


if __name__ == "__main__":
    main()
