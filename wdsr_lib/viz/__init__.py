"""Figures: the notebooks' plots (`plots`), the qualitative crops (`qualitative`) and the store explorer
(`explore`). Reads the study's frames; nothing here trains."""
