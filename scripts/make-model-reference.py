#!/usr/bin/env python3
"""Writes crates/core/data/model-reference.json, the catalogue of models the cluster knows, from
the AI Horde's public model references and Potluck's own entries.

Usage: scripts/make-model-reference.py TEXT_DB_JSON IMAGE_SD_JSON [OUT]

  TEXT_DB_JSON   db.json of github.com/Haidra-Org/AI-Horde-text-model-reference
  IMAGE_SD_JSON  stable_diffusion.json of github.com/Haidra-Org/AI-Horde-image-model-reference
  OUT            default: crates/core/data/model-reference.json

Run it by hand when the references change (the build never downloads anything); commit the
result. Only what the server uses is kept: a text model's name, parameter count, baseline,
nsfw flag and (for models Potluck's engine serves) context length and the SHA-256 of its GGUF
file; an image model's name, baseline, nsfw and inpainting flags and, where it has them, its
requirements (min_steps, max_steps, cfg_scale, min_cfg_scale, max_cfg_scale, clip_skip, samplers,
schedulers: the upfront kudos and the request warnings read them). Potluck's own entries
(POTLUCK_MODELS below) take precedence over the AI Horde's.
"""

import json
import sys
from pathlib import Path

# Models Potluck's engine serves, with the file volunteers and browsers load.
POTLUCK_MODELS = [
    {
        "name": "SmolLM2-135M-Instruct",
        "parameters": 134_515_008,
        "baseline": "SmolLM2",
        "nsfw": False,
        "context_length": 8192,
        # scripts/fetch-smollm2.sh: SmolLM2-135M-Instruct.Q4_1.gguf
        "sha256": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    },
]


def text_models(db):
    models = {}
    for name, entry in db.items():
        parameters = entry.get("parameters")
        if not isinstance(parameters, (int, float)) or parameters <= 0:
            continue
        models[name] = {
            "name": name,
            "parameters": int(parameters),
            "baseline": entry.get("baseline") or None,
            "nsfw": bool(entry.get("nsfw", False)),
        }
    for entry in POTLUCK_MODELS:
        models[entry["name"]] = dict(entry)
    return [models[name] for name in sorted(models)]


def image_models(reference):
    models = []
    for name in sorted(reference):
        entry = reference[name]
        model = {
            "name": name,
            "baseline": entry.get("baseline") or "stable diffusion 1",
            "nsfw": bool(entry.get("nsfw", False)),
            "inpainting": bool(entry.get("inpainting", False)),
        }
        if entry.get("requirements"):
            model["requirements"] = entry["requirements"]
        models.append(model)
    return models


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    text = json.loads(Path(sys.argv[1]).read_text())
    image = json.loads(Path(sys.argv[2]).read_text())
    out = Path(sys.argv[3] if len(sys.argv) == 4 else "crates/core/data/model-reference.json")
    lines = ['{', '  "format": "potluck-model-reference/1",', '  "text": [']
    texts = text_models(text)
    lines += [f"    {json.dumps(m)}," for m in texts]
    lines[-1] = lines[-1].rstrip(",")
    lines += ["  ],", '  "image": [']
    images = image_models(image)
    lines += [f"    {json.dumps(m)}," for m in images]
    lines[-1] = lines[-1].rstrip(",")
    lines += ["  ]", "}"]
    out.write_text("\n".join(lines) + "\n")
    print(f"{out}: {len(texts)} text models, {len(images)} image models")


if __name__ == "__main__":
    main()
