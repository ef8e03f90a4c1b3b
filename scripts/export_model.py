#!/usr/bin/env python3
"""Export a vision model for maia: TorchScript whose forward returns a dict of named layer
outputs, plus the `maia-model` sidecar JSON (input size, mean/std, layer names).

    python scripts/export_model.py --arch resnet18 --layers layer1,layer2,layer3,layer4 --out resnet18.pt
    python scripts/export_model.py --arch tiny --out tiny.pt          # no torchvision needed

torchvision architectures need torchvision (scripts/install-deps.sh installs the release
built for the venv's torch); weights load only when the machine can reach them (--weights
DEFAULT), otherwise they are random (`weights=None`, nothing is downloaded), which is
enough to try maia and is what the test suite exports:

    python scripts/export_model.py --arch resnet18 --layers layer1,layer2,layer3,layer4,fc --out r18.pt
    python scripts/export_model.py --arch timm:resnet50 --layers layer4 --out r50.pt   # needs timm
    python scripts/export_model.py --arch timm:vit_small_patch14_reg4_dinov2.lvd142m --weights pretrained --layers blocks.5,blocks.11 --out dinov2_reg.pt
    python scripts/export_model.py --arch timm:vit_base_patch16_clip_224.openai --weights pretrained --layers blocks.5,blocks.11 --out clip_b16.pt
    python scripts/export_model.py --arch vit_b_16 --layers encoder.layers.encoder_layer_5,encoder.layers.encoder_layer_11 --out vit_b_16.pt
    python scripts/export_model.py --arch tiny_vit --out tiny_vit.pt  # a 2-block ViT, for tests
    python scripts/export_model.py --arch hf:facebook/dinov2-small --layers hidden_states.6,hidden_states.12 --out dinov2_s.pt
    python scripts/export_model.py --arch hf-tiny:clip --size 32 --out tiny_clip.pt   # random, offline

Hugging Face transformers vision models (`hf:ID`: ViTModel, Dinov2Model, CLIPVisionModel,
the vision tower of a CLIPModel or SiglipModel, ...) are traced to return the chosen
`hidden_states.K` (the output of block K; default all), with the processor's mean, std and
resize; the weights and processor come from the Hub, so that needs the network.
timm models load their pretrained weights with any `--weights` value (`--weights pretrained`),
random ones without. `hf-tiny:vit|dinov2|clip` builds a 2-block random-weight model of the family (tests);
`timm-tiny:reg` a 2-block timm ViT with 4 register tokens, as DINOv2 with registers has.
open_clip's visual tower: `--arch openclip:ViT-B-32 --weights laion2b_s34b_b79k --layers
transformer.resblocks.5,transformer.resblocks.11` (random weights without --weights);
`openclip-tiny` is a 2-block one for tests.

Transformer layers return tokens `[N, T, C]`; the sidecar records how they form the patch
grid (`"layouts": {NAME: {"tokens": {"prefix": 1, "grid": [14, 14]}}}`: the class and
register tokens first, then the patches row by row), read from the model (its patch size,
timm's `num_prefix_tokens`), so maia reads each channel's patch tokens as its map.

The sidecar records the model's evaluation transform so maia prepares images exactly as
the model was evaluated: for torchvision models, that of the architecture's weights
(`weights.transforms()`: e.g. resize 256, center crop 224, bilinear, ImageNet mean/std);
for timm models, `timm.data.resolve_data_config` (e.g. resize floor(224 / crop_pct),
bicubic, the model's own mean/std). `--transform area` writes none instead (the whole image
area-averaged to the input square, maia's plain default); the tiny model always does.

`--check-image IMAGE --check-out JSON` also writes the per-unit max activation of every
layer on that image, prepared as the sidecar says (torchvision's Resize + CenterCrop on the
Pillow image; or area averaging down, bilinear up), and `--check-input F32` the prepared
input tensor as raw float32, for tests.
"""
import argparse
import json
import math

import torch
import torch.nn as nn


class Tiny(nn.Module):
    """A small 3-block CNN: enough to exercise loading, layers and maps without downloads."""

    def __init__(self):
        super().__init__()
        self.block1 = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
        self.block2 = nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU())
        self.block3 = nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        a = self.block1(x)
        b = self.block2(a)
        c = self.block3(b)
        return {"block1": a, "block2": b, "block3": c, "logits": self.head(c.mean(dim=(2, 3)))}


def tiny_vit(size):
    """A torchvision VisionTransformer small enough for tests: patch 8, 2 blocks of width 32."""
    from torchvision.models import VisionTransformer
    return VisionTransformer(image_size=size, patch_size=8, num_layers=2, num_heads=2,
                             hidden_dim=32, mlp_dim=64, num_classes=10)


def token_layouts(net, size, outputs):
    """The sidecar's `layouts` for every [N, T, C] output: the patch grid from the model's
    patch size (torchvision: `patch_size`; timm: `patch_embed.grid_size`) and the rest of
    the tokens as the prefix (class and register tokens). Outputs of any other rank get none."""
    grid = None
    patch_embed = getattr(net, "patch_embed", None)
    if patch_embed is not None and hasattr(patch_embed, "grid_size"):
        grid = [int(g) for g in patch_embed.grid_size]
    elif isinstance(getattr(net, "grid_size", None), (tuple, list)):
        grid = [int(g) for g in net.grid_size]  # open_clip's VisionTransformer
    elif isinstance(getattr(net, "patch_size", None), int):
        grid = [size // net.patch_size] * 2
    elif hasattr(getattr(net, "config", None), "patch_size"):
        grid = [size // int(net.config.patch_size)] * 2  # transformers
    layouts = {}
    for name, t in outputs.items():
        if t.dim() != 3:
            continue
        if grid is None:
            raise SystemExit(f"layer {name} returns tokens {list(t.shape)} but the patch grid of "
                             f"{type(net).__name__} is unknown; add its layout to the sidecar by hand")
        prefix = t.shape[1] - grid[0] * grid[1]
        if prefix < 0:
            raise SystemExit(f"layer {name} has {t.shape[1]} tokens, fewer than its {grid[0]}x{grid[1]} patches")
        layouts[name] = {"tokens": {"prefix": int(prefix), "grid": grid}}
    return layouts


def as_maps(t, layout):
    """A layer output as [N, C, H, W] maps, as maia reads it ([N, C] as 1x1)."""
    if layout is not None:
        prefix, (h, w) = layout["tokens"]["prefix"], layout["tokens"]["grid"]
        n, _, c = t.shape
        return t[:, prefix:, :].reshape(n, h, w, c).permute(0, 3, 1, 2)
    return t if t.dim() == 4 else t[:, :, None, None]


CLIP_MEAN, CLIP_STD = [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]

# hf-tiny families: (config class, model class, mean, std).
HF_TINY = {
    "vit": ("ViTConfig", "ViTModel", [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]),
    "dinov2": ("Dinov2Config", "Dinov2Model", [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    "clip": ("CLIPVisionConfig", "CLIPVisionModel", CLIP_MEAN, CLIP_STD),
}


def hf_model(arch, size):
    """A transformers vision model: (model, mean, std, transform, size). `hf-tiny:FAMILY`
    is built here with random weights; `hf:ID` comes from the Hub with its processor."""
    import transformers
    if arch.startswith("hf-tiny:"):
        family = arch[len("hf-tiny:"):]
        if family not in HF_TINY:
            raise SystemExit(f"hf-tiny families: {', '.join(HF_TINY)}")
        config_cls, model_cls, mean, std = HF_TINY[family]
        config = getattr(transformers, config_cls)(
            image_size=size, patch_size=8, hidden_size=32, num_hidden_layers=2,
            num_attention_heads=2, intermediate_size=64, mlp_ratio=2)
        return getattr(transformers, model_cls)(config), mean, std, {}, size
    name = arch[len("hf:"):]
    net = transformers.AutoModel.from_pretrained(name)
    net = getattr(net, "vision_model", net)  # CLIPModel, SiglipModel: the vision tower
    processor = transformers.AutoImageProcessor.from_pretrained(name)
    mean, std = list(processor.image_mean), list(processor.image_std)
    crop = getattr(processor, "crop_size", None) or processor.size
    size = crop.get("height", size) if isinstance(crop, dict) else size
    transform = {}
    shortest = processor.size.get("shortest_edge") if isinstance(processor.size, dict) else None
    if shortest:
        resample = {2: "bilinear", 3: "bicubic"}.get(int(getattr(processor, "resample", 2)), "bilinear")
        transform = {"resize": int(shortest), "interpolation": resample}
    return net, mean, std, transform, size


class HfBlocks(nn.Module):
    """A transformers vision model returning its chosen hidden states by name."""

    def __init__(self, net, layers):
        super().__init__()
        self.net = net
        self.names = layers
        self.index = [int(name.split(".")[1]) for name in layers]

    def forward(self, x):
        hidden = self.net(pixel_values=x, output_hidden_states=True).hidden_states
        return {name: hidden[i] for name, i in zip(self.names, self.index)}


class Features(nn.Module):
    """Wraps a torchvision model: returns the named submodules' outputs as a dict."""

    def __init__(self, model, layers):
        super().__init__()
        from torchvision.models.feature_extraction import create_feature_extractor
        self.body = create_feature_extractor(model, return_nodes={name: name for name in layers})

    def forward(self, x):
        return self.body(x)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", default="tiny", help="tiny, tiny_vit, a torchvision model name (resnet18, vit_b_16, ...), timm:NAME, timm-tiny:reg, hf:ID, hf-tiny:vit|dinov2|clip or openclip:NAME (--weights: its pretrained tag)")
    p.add_argument("--layers", default="", help="comma-separated layer names (torchvision node names)")
    p.add_argument("--weights", default=None, help="torchvision weights name, e.g. DEFAULT (needs network)")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    p.add_argument("--transform", choices=["eval", "area"], default="eval",
                   help="eval: the architecture's resize + center crop (default); area: none")
    p.add_argument("--check-image")
    p.add_argument("--check-out")
    p.add_argument("--check-input")
    p.add_argument("--check-maps", help="also write every layer's maps ([C][H][W], as maia reads them) as JSON")
    a = p.parse_args()
    torch.manual_seed(a.seed)
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    transform = {}
    layers = [name for name in a.layers.split(",") if name]
    net = None
    scripted = None
    if a.arch.startswith(("hf:", "hf-tiny:")):
        net, mean, std, transform, a.size = hf_model(a.arch, a.size)
        blocks = net.config.num_hidden_layers
        layers = layers or [f"hidden_states.{k}" for k in range(1, blocks + 1)]
        bad = [n for n in layers if not (n.startswith("hidden_states.") and n[14:].isdigit()
                                         and 0 <= int(n[14:]) <= blocks)]
        if bad:
            p.error(f"{', '.join(bad)}: a transformers model's layers are hidden_states.K, K in 0..{blocks}")
        model = HfBlocks(net.eval(), layers)
        # transformers models do not script; traced on one input, they return the same dict
        # (the tracer's warnings are about shape checks that the fixed input size settles).
        import warnings
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        scripted = torch.jit.trace(model.eval(), torch.zeros(1, 3, a.size, a.size), strict=False)
    elif a.arch == "openclip-tiny":
        # open_clip's VisionTransformer, 2 blocks of width 32, patch 8 (random; for tests).
        from open_clip.transformer import VisionTransformer as OpenClipViT
        net = OpenClipViT(image_size=a.size, patch_size=8, width=32, layers=2, heads=2,
                          mlp_ratio=2.0, output_dim=16)
        layers = layers or ["transformer.resblocks.0", "transformer.resblocks.1"]
        mean, std = CLIP_MEAN, CLIP_STD
        model = Features(net, layers)
    elif a.arch.startswith("openclip:"):
        import open_clip
        if not layers:
            p.error("--layers is required for open_clip models (e.g. transformer.resblocks.5)")
        clip = open_clip.create_model(a.arch[len("openclip:"):], pretrained=a.weights)
        net = clip.visual
        a.size = int(net.image_size[0]) if isinstance(net.image_size, (tuple, list)) else int(net.image_size)
        mean, std = list(net.image_mean), list(net.image_std)
        # open_clip's eval preprocessing: Resize(size, bicubic) + CenterCrop(size).
        transform = {"resize": a.size, "interpolation": "bicubic"}
        model = Features(net, layers)
    elif a.arch == "timm-tiny:reg":
        # timm's VisionTransformer laid out as DINOv2 with registers (a class token, then 4
        # register tokens, then the patches): 2 blocks of width 32, patch 8 (random; tests).
        from timm.models.vision_transformer import VisionTransformer as TimmViT
        net = TimmViT(img_size=a.size, patch_size=8, embed_dim=32, depth=2, num_heads=2,
                      reg_tokens=4, no_embed_class=True, num_classes=0)
        layers = layers or ["blocks.0", "blocks.1"]
        model = Features(net, layers)
    elif a.arch == "tiny":
        model, layers = Tiny(), ["block1", "block2", "block3", "logits"]
    elif a.arch == "tiny_vit":
        net = tiny_vit(a.size)
        layers = layers or ["encoder.layers.encoder_layer_0", "encoder.layers.encoder_layer_1"]
        model = Features(net, layers)
    elif a.arch.startswith("timm:"):
        import timm
        if not layers:
            p.error("--layers is required for timm models")
        net = timm.create_model(a.arch[5:], pretrained=a.weights is not None)
        config = timm.data.resolve_data_config({}, model=net)
        a.size = config["input_size"][-1]
        mean, std = list(config["mean"]), list(config["std"])
        # timm's transforms_imagenet_eval: Resize(floor(size / crop_pct)) + CenterCrop(size).
        transform = {"resize": math.floor(a.size / config["crop_pct"]), "interpolation": config["interpolation"]}
        model = Features(net, layers)
    else:
        import torchvision
        if not layers:
            p.error("--layers is required for torchvision models")
        net = torchvision.models.get_model(a.arch, weights=a.weights)
        model = Features(net, layers)
        transform = torchvision_transform(a.arch, a.size)
        if transform:
            mean, std = transform.pop("mean"), transform.pop("std")
    if a.transform == "area":
        transform = {}
    model.eval()
    if scripted is None:
        scripted = torch.jit.script(model)
    scripted.save(a.out)
    with torch.no_grad():
        probe = scripted(torch.zeros(1, 3, a.size, a.size))
    layouts = token_layouts(net, a.size, probe) if net is not None else {}
    sidecar = {"format": "maia-model", "format_version": 1, "name": a.arch,
               "input": {"size": a.size, **transform, "mean": mean, "std": std}, "layers": layers}
    if layouts:
        sidecar["layouts"] = layouts
    with open(a.out + ".json", "w") as f:
        json.dump(sidecar, f, indent=2)
    print(f"wrote {a.out} and {a.out}.json (layers: {', '.join(layers)})")
    if a.check_image:
        if transform:
            x = eval_transform(a.check_image, a.size, transform, mean, std)
        else:
            x = resize_like_maia(read_png_rgb(a.check_image), a.size)
            x = (x / 255.0 - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
        if a.check_input:
            x.contiguous().numpy().astype("float32").tofile(a.check_input)
        with torch.no_grad():
            out = scripted(x)
        maxima, maps = {}, {}
        for name, t in out.items():
            m = as_maps(t, layouts.get(name))[0]
            maxima[name] = m.flatten(1).max(dim=1).values.tolist()
            maps[name] = m.tolist()
            if name in layouts and layouts[name]["tokens"]["prefix"] > 0:
                maxima[name + ":cls"] = t[0, 0, :].tolist()  # the class token's units
        if a.check_maps:
            with open(a.check_maps, "w") as f:
                json.dump(maps, f)
        with open(a.check_out, "w") as f:
            json.dump(maxima, f)


def torchvision_transform(arch, size):
    """The eval transform of the architecture's default weights (read from torchvision's
    weight enum; nothing is downloaded), scaled to --size: {resize, interpolation,
    antialias, mean, std}, or {} when torchvision knows none."""
    import torchvision
    try:
        t = torchvision.models.get_model_weights(arch).DEFAULT.transforms()
    except (ValueError, KeyError, AttributeError):
        return {}
    crop, resize = t.crop_size[0], t.resize_size[0]
    return {"resize": round(resize * size / crop), "interpolation": t.interpolation.value,
            "antialias": bool(t.antialias), "mean": list(t.mean), "std": list(t.std)}


def eval_transform(path, size, transform, mean, std):
    """torchvision's eval pipeline on the Pillow image: Resize(shorter side) +
    CenterCrop + ToTensor + Normalize, as a [1, 3, size, size] tensor."""
    from PIL import Image
    import torchvision.transforms as T
    mode = T.InterpolationMode(transform.get("interpolation", "bilinear"))
    pipeline = T.Compose([T.Resize(transform["resize"], interpolation=mode, antialias=True),
                          T.CenterCrop(size), T.ToTensor(), T.Normalize(mean, std)])
    with Image.open(path) as im:
        return pipeline(im.convert("RGB")).unsqueeze(0)


def resize_like_maia(x, size):
    """[1, 3, H, W] floats to [1, 3, size, size]: area averaging when shrinking, bilinear
    (align_corners=False) when a side is smaller, as maia's TorchModel does."""
    import torch.nn.functional as F
    h, w = x.shape[2], x.shape[3]
    if (h, w) == (size, size):
        return x
    if h >= size and w >= size:
        return F.adaptive_avg_pool2d(x, (size, size))
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)


def read_png_rgb(path):
    """The PNG as a [1, 3, H, W] float tensor of 0..255 values: with Pillow when it is
    installed (any mode), else with a minimal reader (8-bit RGB/RGBA, non-interlaced)."""
    try:
        from PIL import Image
    except ImportError:
        return read_png_rgb_minimal(path)
    with Image.open(path) as im:
        rgb = im.convert("RGB")
        data = bytearray(rgb.tobytes())
        w, h = rgb.size
    t = torch.frombuffer(data, dtype=torch.uint8).view(h, w, 3)
    return t.permute(2, 0, 1).unsqueeze(0).float()


def read_png_rgb_minimal(path):
    """A minimal PNG reader (8-bit RGB/RGBA, non-interlaced), for venvs without Pillow."""
    import struct, zlib
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, w, h, ctype = 8, b"", 0, 0, 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and ctype in (2, 6), "only 8-bit RGB/RGBA"
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    bpp = 3 if ctype == 2 else 4
    raw, stride = zlib.decompress(idat), w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a_ = line[i - bpp] if i >= bpp else 0
            b_, c_ = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1: line[i] = (line[i] + a_) & 255
            elif f == 2: line[i] = (line[i] + b_) & 255
            elif f == 3: line[i] = (line[i] + (a_ + b_) // 2) & 255
            elif f == 4:
                pa, pb, pc = abs(b_ - c_), abs(a_ - c_), abs(a_ + b_ - 2 * c_)
                line[i] = (line[i] + (a_ if pa <= pb and pa <= pc else b_ if pb <= pc else c_)) & 255
        rows.append(bytes(line))
        prev = line
    t = torch.frombuffer(bytearray(b"".join(rows)), dtype=torch.uint8).view(h, w, bpp)[:, :, :3]
    return t.permute(2, 0, 1).unsqueeze(0).float()


if __name__ == "__main__":
    main()
