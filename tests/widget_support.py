"""What the dock-widget tests share: napari's plugin preferences kept in a temporary folder,
the widget opened the way a user opens it, and small stacks."""

from __future__ import annotations

import numpy as np

PLUGIN, WIDGET = "napari-nsn2n", "NS-N2N denoising"


def isolated_preferences(tmp_path, monkeypatch):
    """For an autouse fixture: napari's plugin settings (the widget's remembered values) kept
    under ``tmp_path`` instead of the user's settings folder; yields that folder."""
    from napari import settings as napari_settings

    napari_settings._clear_plugin_settings_cache()
    monkeypatch.setattr(napari_settings, "_CFG_PATH", str(tmp_path / "settings.yaml"))
    yield tmp_path
    napari_settings._clear_plugin_settings_cache()


def open_widget(viewer):
    """The dock widget as the Plugins menu opens it (napari hands it proxies of the viewer)."""
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    return widget


def stack(shape=(6, 32, 32), seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z, y, x = np.mgrid[: shape[0], : shape[1], : shape[2]].astype(np.float32)
    clean = 0.5 + 0.3 * (np.hypot(y - shape[1] / 2, x - shape[2] / 2) < 6 + 2 * z)
    return (clean + 0.05 * rng.standard_normal(shape)).astype(np.float32)


def combo_items(combo) -> list[str]:
    return [combo.itemText(i) for i in range(combo.count())]
