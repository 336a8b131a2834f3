"""Model labels: the size and quantization never said twice, two files never labelled the same, plurals right."""

from __future__ import annotations

import shutil

import pytest

from app.core.infra.paths import app_paths
from app.core.models.formatting import count_phrase, model_title, others_dont_fit
from app.core.models.labels import entry_labels
from app.core.models.library import ModelLibrary


@pytest.mark.parametrize("name, size, quant, title", [
    ("Smollm2 135M 8k Lc100K Mix1 Ep2", "135M", "Q4_1", "Smollm2 135M 8k Lc100K Mix1 Ep2 Q4_1"),
    ("SmolLM2-135M-Instruct", "135M", "Q4_1", "SmolLM2-135M-Instruct Q4_1"),
    ("Qwen2.5 Coder Instruct", "7B", "Q4_K_M", "Qwen2.5 Coder Instruct 7B Q4_K_M"),
    ("Qwen2.5 1.5B Instruct", "5B", "Q8_0", "Qwen2.5 1.5B Instruct 5B Q8_0"),  # "5B" is not in "1.5B"
    ("Mixtral 8x7B Instruct", "8x7B", "Q4_K_M", "Mixtral 8x7B Instruct Q4_K_M"),
    ("Llama 3 8B Instruct Q4_K_M", "8B", "Q4_K_M", "Llama 3 8B Instruct Q4_K_M"),
    ("tiny", "", "unknown", "tiny"),
    ("Model", "135m", "F16", "Model 135m F16"),
])
def test_title_says_size_and_quant_once(name, size, quant, title):
    assert model_title(name, size, quant) == title


def test_the_issue_label_no_longer_repeats_its_size(tmp_path, smol_tokenizer):
    from tests.fixtures.model_factory import write_tiny_model

    import gguf

    path = write_tiny_model(tmp_path / "m" / "smollm2-135m-8k-lc100k-mix1-ep2-q4_1.gguf", smol_tokenizer,
                            name="Smollm2 135M 8k Lc100K Mix1 Ep2",
                            extra_kv={"general.size_label": ("135M", gguf.GGUFValueType.STRING)})
    lib = ModelLibrary([path.parent], app_paths().ensure().database)
    (entry,) = lib.scan()
    (label,) = entry_labels([entry])
    assert label.startswith("Smollm2 135M 8k Lc100K Mix1 Ep2 F16 · ")
    assert label.count("135M") == 1 and label.count("F16") == 1
    assert entry.info.display_name == "Smollm2 135M 8k Lc100K Mix1 Ep2 F16"


def test_identical_models_get_distinct_labels(tmp_path, fixtures):
    lib_dir = tmp_path / "models"
    (lib_dir / "a").mkdir(parents=True)
    (lib_dir / "b").mkdir()
    shutil.copy(fixtures["base"], lib_dir / "a" / "main.gguf")
    shutil.copy(fixtures["base"], lib_dir / "a" / "copy.gguf")
    shutil.copy(fixtures["base"], lib_dir / "b" / "main.gguf")
    shutil.copy(fixtures["base_draft"], lib_dir / "draft.gguf")
    lib = ModelLibrary([lib_dir], app_paths().ensure().database)
    entries = lib.scan()
    labels = dict(zip((e.path for e in entries), entry_labels(entries)))
    assert len(set(labels.values())) == 4
    title = entries[0].info.display_name
    assert labels[str(lib_dir / "a" / "copy.gguf")].endswith(" · copy.gguf")
    assert labels[str(lib_dir / "a" / "main.gguf")].endswith(" · a/main.gguf")  # same file name: its folder too
    assert labels[str(lib_dir / "b" / "main.gguf")].endswith(" · b/main.gguf")
    assert "draft.gguf" not in labels[str(lib_dir / "draft.gguf")]  # unique already: nothing added
    assert all(label.startswith(title) for path, label in labels.items() if "draft" not in path)


@pytest.mark.parametrize("n, text", [(0, "0 other models don't fit"), (1, "1 other model doesn't fit"),
                                     (2, "2 other models don't fit")])
def test_others_phrase(n, text):
    assert others_dont_fit(n) == text


def test_count_phrase():
    assert count_phrase(1, "file") == "1 file" and count_phrase(3, "file") == "3 files"
    assert count_phrase(2, "copy", "copies") == "2 copies"


def test_a_name_the_converter_made_up_gives_way_to_the_files(smollm2_path):
    """SmolLM2-135M-Instruct's general.name is "Smollm2 135M 8k Lc100K Mix1 Ep2" (basename + size + finetune, made
    up by convert_hf_to_gguf); its file says what it is."""
    from app.core.models.formatting import readable_name
    from app.core.models.model_info import read_model_info

    assert read_model_info(smollm2_path).display_name == "SmolLM2 135M Instruct Q4_1"
    made_up = "Smollm2 135M 8k Lc100K Mix1 Ep2"
    args = ("smollm2", "135M", "8k-lc100k-mix1-ep2")
    assert readable_name(made_up, *args, "SmolLM2-135M-Instruct.F32.gguf") == "SmolLM2 135M Instruct"
    assert readable_name(made_up, *args, "SmolLM2-135M-Instruct-Q4_K_M-00001-of-00002.gguf") == \
        "SmolLM2 135M Instruct"
    assert readable_name(made_up, *args, "model.gguf") == made_up  # a file name that says nothing: the name stays
    assert readable_name("SmolLM2 135M Instruct", *args, "x-smollm2.gguf") == "SmolLM2 135M Instruct"  # a real name
    assert readable_name(made_up, "", "135M", "", "SmolLM2-135M-Instruct.gguf") == made_up  # no basename: no rule


def test_a_name_made_up_by_the_converter_shows_the_file_and_same_named_files_are_told_apart(tmp_path,
                                                                                          smol_tokenizer):
    """Issue 27.5: a copy named my-draft-smollm2.gguf read "Smollm2 135M 8k Lc100K Mix1 Ep2 F16" everywhere; two
    files of one model name read the same but for their size."""
    from tests.fixtures.model_factory import write_tiny_model

    import gguf

    made_up = {"general.basename": ("smollm2", gguf.GGUFValueType.STRING),
               "general.size_label": ("135M", gguf.GGUFValueType.STRING),
               "general.finetune": ("8k-lc100k-mix1-ep2", gguf.GGUFValueType.STRING)}
    folder = tmp_path / "m"
    write_tiny_model(folder / "my-draft-smollm2.gguf", smol_tokenizer, name="Smollm2 135M 8k Lc100K Mix1 Ep2",
                     extra_kv=made_up)
    write_tiny_model(folder / "tiny-a.gguf", smol_tokenizer, name="Tiny Chat", seed=1)
    write_tiny_model(folder / "tiny-b-finetuned.gguf", smol_tokenizer, name="Tiny Chat", seed=2, n_ff=96)
    write_tiny_model(folder / "model.gguf", smol_tokenizer, name="model", seed=4)
    lib = ModelLibrary([folder], app_paths().ensure().database)
    labels = dict(zip((e.path.rsplit("/", 1)[-1] for e in lib.scan()), entry_labels(lib.entries)))
    assert labels["my-draft-smollm2.gguf"].startswith("my-draft-smollm2.gguf (Smollm2 135M 8k Lc100K Mix1 Ep2")
    assert labels["tiny-a.gguf"].endswith(" · tiny-a.gguf") and labels["tiny-b-finetuned.gguf"].endswith(
        " · tiny-b-finetuned.gguf")  # the same title: each says its file
    assert labels["model.gguf"].startswith("model.gguf")
    assert len(set(labels.values())) == 4
