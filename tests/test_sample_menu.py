"""The sample menu as a user meets it: File > Open Sample > napari-nsn2n in a real viewer."""

from __future__ import annotations

import time

import numpy as np
import pytest

from napari_nsn2n.metrics import insert_contrast
from napari_nsn2n.samples import SAMPLE_SHAPES

PLUGIN = "napari-nsn2n"
UNITS = {
    "ct": ("millimeter", "HU"),
    "mri": ("millimeter", "a.u."),
    "microscopy": ("micrometer", "counts"),
}


@pytest.mark.gui
@pytest.mark.parametrize("key", ["ct", "mri", "microscopy"])
def test_menu_samples_carry_units_licence_and_insert_labels(make_napari_viewer, key) -> None:
    viewer = make_napari_viewer()
    started = time.process_time()
    (layer,) = viewer.open_sample(PLUGIN, key)
    seconds = time.process_time() - started
    assert seconds < 15  # a few seconds on one core (the CT took 28 s with skimage radon)
    assert layer.data.shape == SAMPLE_SHAPES[key]
    length, intensity = UNITS[key]
    assert [str(u) for u in layer.units] == [length] * 3
    meta = layer.metadata
    assert meta["nsn2n_sample"]["units"] == intensity and "BSD-3-Clause" in meta["licence"]
    assert "synthetic" in meta["source"] and "BSD-3-Clause" in meta["description"]
    assert 0 < meta["nsn2n_sample"]["suggested_threshold"] < 0.2
    inserts = meta["nsn2n_inserts"]
    labels, tissues = inserts["labels"], inserts["tissues"]
    assert labels.shape == tissues.shape == layer.data.shape
    assert int(labels.max()) == len(inserts["names"]) >= 10
    assert int(tissues.max()) < len(inserts["tissue_names"])
    clean = meta["nsn2n_clean"]
    kept = insert_contrast(clean, layer.data, labels, tissues)
    assert len(kept) >= 10
    # the noisy stack keeps every insert's contrast on average (noise is unbiased)
    assert np.median([c.recovered for c in kept]) == pytest.approx(1.0, abs=0.15)
    if key == "ct":
        assert tuple(layer.contrast_limits) == (-160.0, 240.0)
    if key == "microscopy":
        assert layer.data.dtype == np.uint16
