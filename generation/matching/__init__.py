"""Zero-shot matching models (ZRCM, SDZRE) and the description-matching baseline: they score a sentence with
a marked entity pair against natural-language relation descriptions, and serve as candidate generators."""
