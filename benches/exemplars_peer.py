#!/usr/bin/env python3
"""The comparison peer of maia's exemplar pass: the same job written the way one would in
plain PyTorch, for scripts/bench_exemplars.sh.

One pass over a folder of PNGs with a TorchScript model (the same file `maia exemplars`
loads, with its sidecar), keeping the top-k images of every unit of one layer by the
unit's spatial max:

  - a `torch.utils.data.DataLoader` with worker processes decodes (Pillow), resizes and
    normalizes exactly as maia does (area averaging when shrinking, bilinear when growing,
    mean/std from the sidecar);
  - the main process runs the model without grad and keeps a running top-k per unit.

Unreadable files are skipped and counted, as maia does. The timed part is everything from
listing the folder to the final top-k (the model is loaded first, untimed, as maia's
figure also excludes loading). Prints one JSON object: images, seconds, images_per_s,
skipped, and the top-k (file indices) of the first units, so the runner can check that
both sides found the same exemplars.

    python benches/exemplars_peer.py --model world-cnn.pt --layer conv4 --data DIR

Transformer layers ([N, T, C] tokens) are read as maia reads them: the patch tokens after
the sidecar's prefix, one map per channel.

For real data sets (scripts/bench_datasets.sh): the folder may hold JPEGs, and a sidecar
with `resize` is served with torchvision's eval transform (Pillow decode, `Resize`,
`CenterCrop`, `ToTensor`, `Normalize`). `--decode-only` times the DataLoader alone (decode
and transform, no model); `--ceiling` times the model alone on ready-made inputs of the
same count (the forward-only ceiling of any pass).
"""
import argparse
import json
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


def read_sidecar(model_path):
    with open(model_path + ".json") as f:
        sidecar = json.load(f)
    inp = sidecar["input"]
    pre = {"size": inp["size"], "mean": inp["mean"], "std": inp["std"], "round": False,
           "resize": inp.get("resize"), "interpolation": inp.get("interpolation", "bilinear")}
    if sidecar.get("format") == "maia-world-cnn":
        # Trained on area-resized images rounded to whole bytes; maia feeds it the same.
        pre["round"] = inp.get("resize") == "area"
        outputs = {o["name"]: o for o in sidecar["outputs"]}
        return pre, ("packed", outputs)
    return pre, ("dict", sidecar.get("layouts", {}))


class Folder(torch.utils.data.Dataset):
    """PNG files in name order, decoded to a normalized [3, S, S] float tensor each."""

    def __init__(self, root, pre):
        self.root = root
        self.files = sorted(n for n in os.listdir(root)
                            if n.lower().endswith((".png", ".jpg", ".jpeg")))
        self.size = pre["size"]
        self.eval = None
        if pre.get("resize"):
            import torchvision.transforms as T
            mode = T.InterpolationMode(pre["interpolation"])
            self.eval = T.Compose([T.Resize(pre["resize"], interpolation=mode, antialias=True),
                                   T.CenterCrop(pre["size"]), T.ToTensor(),
                                   T.Normalize(pre["mean"], pre["std"])])
        self.round = pre["round"]
        self.mean = torch.tensor(pre["mean"], dtype=torch.float32).view(3, 1, 1)
        self.std = torch.tensor(pre["std"], dtype=torch.float32).view(3, 1, 1)

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        if self.eval is not None:
            try:
                with Image.open(os.path.join(self.root, self.files[i])) as im:
                    return i, self.eval(im.convert("RGB"))
            except Exception:
                return i, None
        try:
            with Image.open(os.path.join(self.root, self.files[i])) as im:
                rgb = np.asarray(im.convert("RGB"))
        except Exception:
            return i, None
        x = torch.from_numpy(rgb.copy()).permute(2, 0, 1).float().unsqueeze(0)
        s = self.size
        h, w = x.shape[2], x.shape[3]
        if (h, w) != (s, s):
            if h >= s and w >= s:
                x = F.adaptive_avg_pool2d(x, (s, s))
            else:
                x = F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False)
            if self.round:
                x = x.round().clamp(0, 255)
        return i, (x[0] / 255.0 - self.mean) / self.std


def collate(items):
    good = [(i, x) for i, x in items if x is not None]
    skipped = len(items) - len(good)
    if not good:
        return torch.empty(0, dtype=torch.long), None, skipped
    index = torch.tensor([i for i, _ in good], dtype=torch.long)
    return index, torch.stack([x for _, x in good]), skipped


def layer_output(model, kind, outputs, layer, x):
    """The layer's output as maps [N, C, ...] whose spatial max is a unit's activation:
    a transformer layer's patch tokens (after its prefix, per the sidecar's `layouts`) as
    [N, C, T, 1]."""
    out = model(x)
    if kind == "packed":
        o = outputs[layer]
        t = out[:, o["offset"]:o["offset"] + o["numel"]]
        return t.reshape([x.shape[0]] + list(o["shape"]))
    y = out[layer]
    layout = (outputs or {}).get(layer)
    if isinstance(layout, dict) and "tokens" in layout:
        return y[:, layout["tokens"]["prefix"]:, :].transpose(1, 2)[:, :, :, None]
    return y


def ceiling(a, model, kind, outputs, pre, device):
    """The model alone: as many images as the folder holds, in batches of --batch, from
    one ready-made input batch (no decoding, no top-k)."""
    n = len(Folder(a.data, pre))
    x = torch.randn(a.batch, 3, pre["size"], pre["size"], device=device)
    with torch.inference_mode():
        layer_output(model, kind, outputs, a.layer, x)  # warm-up
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        done = 0
        while done < n:
            b = min(a.batch, n - done)
            y = layer_output(model, kind, outputs, a.layer, x[:b]).float()
            if y.dim() == 4:
                y.amax(dim=(2, 3)).cpu()
            done += b
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - started
    print(json.dumps({"images": n, "seconds": seconds, "images_per_s": n / seconds,
                      "torch_threads": torch.get_num_threads(), "device": str(device)}))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--layer", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--k", type=int, default=15)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2)))
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    p.add_argument("--device", default="cpu", help="cpu or cuda:N (the model runs there; decoding stays in the workers)")
    p.add_argument("--show-units", type=int, default=4)
    p.add_argument("--decode-only", action="store_true", help="time the DataLoader alone")
    p.add_argument("--ceiling", action="store_true", help="time the model alone on ready inputs")
    a = p.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    pre, (kind, outputs) = read_sidecar(a.model)
    device = torch.device(a.device)
    model = torch.jit.load(a.model, map_location=device).eval()

    if a.ceiling:
        return ceiling(a, model, kind, outputs, pre, device)
    started = time.perf_counter()
    data = Folder(a.data, pre)
    loader = torch.utils.data.DataLoader(
        data, batch_size=a.batch, num_workers=a.workers, collate_fn=collate,
        persistent_workers=False, prefetch_factor=4 if a.workers > 0 else None,
        pin_memory=device.type == "cuda")
    top_v, top_i = None, None
    images, skipped = 0, 0
    if a.decode_only:
        for index, x, bad in loader:
            skipped += bad
            images += 0 if x is None else x.shape[0]
        seconds = time.perf_counter() - started
        print(json.dumps({"images": images, "skipped": skipped, "seconds": seconds,
                          "images_per_s": images / seconds, "workers": a.workers}))
        return
    with torch.inference_mode():
        for index, x, bad in loader:
            skipped += bad
            if x is None:
                continue
            y = layer_output(model, kind, outputs, a.layer, x.to(device, non_blocking=True)).float()
            if y.dim() == 2:
                y = y[:, :, None, None]
            maxima = y.amax(dim=(2, 3)).cpu()  # [N, units]
            images += x.shape[0]
            idx = index.view(-1, 1).expand_as(maxima)
            if top_v is not None:
                maxima = torch.cat([top_v, maxima])
                idx = torch.cat([top_i, idx])
            k = min(a.k, maxima.shape[0])
            # Ties go to the earlier image, as in maia: sort by index first, then stably by value.
            order = torch.argsort(idx, dim=0, stable=True)
            maxima, idx = maxima.gather(0, order), idx.gather(0, order)
            v, pos = torch.sort(maxima, dim=0, descending=True, stable=True)
            top_v, top_i = v[:k], idx.gather(0, pos[:k])
    seconds = time.perf_counter() - started
    print(json.dumps({
        "images": images,
        "skipped": skipped,
        "seconds": seconds,
        "images_per_s": images / seconds if seconds > 0 else 0.0,
        "workers": a.workers,
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
        "top": [top_i[:, u].tolist() for u in range(min(a.show_units, top_i.shape[1]))] if top_i is not None else [],
    }))


if __name__ == "__main__":
    main()
