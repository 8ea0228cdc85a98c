# Cross-checks against real Hugging Face code (transformers + peft) on the device machine. Loopback/no network.
import json, os, sys, time
import numpy as np, torch
from safetensors.torch import save_file
OUT = os.environ["OUT"]; D = ".device"
torch.set_grad_enabled(False)
import transformers, peft
print("transformers", transformers.__version__, "peft", peft.__version__, "torch", torch.__version__, flush=True)
ids = json.load(open(f"{D}/ids.json"))
res = {}

# (a) our generated VLM checkpoint loads in transformers with the exact key set, and gives the reference logits
from transformers import Idefics3ForConditionalGeneration, AutoModelForCausalLM
m, info = Idefics3ForConditionalGeneration.from_pretrained(f"{D}/vlm-tiny", torch_dtype=torch.float32, output_loading_info=True)
print("vlm-tiny loading info:", {k: sorted(v)[:10] for k, v in info.items()}, flush=True)
res["vlm_loading_info"] = {k: sorted(map(str, v)) for k, v in info.items()}
m.eval()
lg = m(input_ids=torch.tensor([ids["c6"]])).logits[0, -1].float().numpy()
ref = np.load(f"{D}/c6_text_only.logits_last.npy")
res["vlm_c6_logits_maxdiff_vs_fixture"] = float(np.abs(lg - ref).max()); res["vlm_c6_absmax"] = float(np.abs(ref).max())
print("vlm c6 max|d| vs fixture", res["vlm_c6_logits_maxdiff_vs_fixture"], flush=True)
del m

# (b) the text-only Qwen3ForCausalLM checkpoint
q, info = AutoModelForCausalLM.from_pretrained(f"{D}/decoder-tiny", torch_dtype=torch.float32, output_loading_info=True)
res["dec_loading_info"] = {k: sorted(map(str, v)) for k, v in info.items()}
lg = q(input_ids=torch.tensor([ids["hello"]])).logits[0, -1].float().numpy()
ref = np.load(f"{D}/hello.ref64.last_logits.npy")
res["dec_hello_logits_maxdiff_vs_fixture"] = float(np.abs(lg - ref).max())
print("decoder hello max|d|", res["dec_hello_logits_maxdiff_vs_fixture"], flush=True)

# (c) PEFT DoRA and LoRA training checkpoints + PEFT's own merged logits, for Tandem's merge-dora to reproduce
from peft import LoraConfig, get_peft_model
for name, dora in (("dora", True), ("lora", False)):
    base = AutoModelForCausalLM.from_pretrained(f"{D}/decoder-tiny", torch_dtype=torch.float32)
    cfg = LoraConfig(r=4, lora_alpha=8, use_dora=dora, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    pm = get_peft_model(base, cfg)
    g = torch.Generator().manual_seed(7)
    for n, p in pm.named_parameters():
        if "lora_A" in n or "lora_B" in n:
            p.data = torch.randn(p.shape, generator=g) * 0.2
        if "lora_magnitude_vector" in n:
            p.data = p.data * (1 + 0.1 * torch.randn(p.shape, generator=g))
    d = f"{OUT}/{name}"
    pm.save_pretrained(d)  # PEFT's own files: adapter_model.safetensors + adapter_config.json
    res[f"{name}_files"] = sorted(os.listdir(d))
    from safetensors import safe_open
    with safe_open(f"{d}/adapter_model.safetensors", "pt") as f:
        keys = list(f.keys())
    res[f"{name}_n_keys"] = len(keys)
    res[f"{name}_example_keys"] = sorted(k for k in keys if "layers.0.self_attn.q_proj" in k)
    with_adapters = pm(input_ids=torch.tensor([ids["hello"]])).logits[0, -1].float().numpy()
    merged = pm.merge_and_unload()
    lg = merged(input_ids=torch.tensor([ids["hello"]])).logits[0, -1].float().numpy()
    np.save(f"{OUT}/{name}_merged_logits.npy", lg.astype(np.float32))
    for f in os.listdir(d):
        if f not in ("adapter_model.safetensors", "adapter_config.json"): os.remove(os.path.join(d, f))
    res[f"{name}_merged_vs_onthefly_maxdiff"] = float(np.abs(lg - with_adapters).max())
    print(name, "done", res[f"{name}_example_keys"], flush=True)
json.dump(res, open(f"{OUT}/hf_check.json", "w"), indent=1)
print(json.dumps(res)[:3000])
