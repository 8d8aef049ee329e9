"""Dataset loaders (DuIE 2.0, FewRel, Wiki-ZSL, the shipped sample), relation inventories and splits."""

from verifier.data.catalog import CATALOG, load_relations, load_schema, load_split, locate_split

__all__ = ["CATALOG", "load_relations", "load_schema", "load_split", "locate_split"]
