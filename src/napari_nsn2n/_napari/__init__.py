"""The napari layer of napari-nsn2n: reader, writer, sample data and dock widget (npe2)."""
