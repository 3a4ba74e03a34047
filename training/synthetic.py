"""A small generator of SYNTHETIC product listings, for demos and unit tests only.

The rows are made up: each category has its own brands, nouns and price range, with enough
overlap and noise that a model has something to learn. Real evaluation uses real data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.schema import INPUT_COLUMNS, LABEL

_CATALOGUE: dict[str, dict[str, list[str] | tuple[float, float]]] = {
    "electronics": {
        "brands": ["Samsung", "LG", "Sony", "boAt"],
        "nouns": ["headphones", "speaker", "television", "earbuds"],
        "subs": ["Audio", "Televisions"],
        "price": (999, 80000),
    },
    "appliances": {
        "brands": ["Whirlpool", "Bosch", "LG", "Havells"],
        "nouns": ["refrigerator", "washing machine", "air conditioner", "mixer grinder"],
        "subs": ["Refrigerators", "Washing Machines", "Kitchen Appliances"],
        "price": (1500, 90000),
    },
    "clothing": {
        "brands": ["Levis", "Puma", "Allen Solly", "Jockey"],
        "nouns": ["t-shirt", "jeans", "shirt", "jacket"],
        "subs": ["Men's Clothing", "Women's Clothing"],
        "price": (199, 4999),
    },
    "sports": {
        "brands": ["Nivia", "Yonex", "Cosco", "Decathlon"],
        "nouns": ["football", "badminton racket", "yoga mat", "dumbbell"],
        "subs": ["Fitness", "Team Sports"],
        "price": (149, 9999),
    },
    "beauty": {
        "brands": ["Lakme", "Nivea", "Mamaearth", "Maybelline"],
        "nouns": ["face wash", "lipstick", "moisturiser", "shampoo"],
        "subs": ["Skin Care", "Make-up"],
        "price": (99, 1999),
    },
    "books": {
        "brands": ["Penguin", "HarperCollins", "Rupa", "Scholastic"],
        "nouns": ["novel", "cookbook", "biography", "textbook"],
        "subs": ["Fiction", "Non-fiction"],
        "price": (99, 1499),
    },
}
_ADJECTIVES = [
    "premium",
    "classic",
    "smart",
    "ultra",
    "compact",
    "pro",
    "lite",
    "new",
    "2023 model",
    "black",
    "white",
    "blue",
]


def generate_synthetic_products(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    """``n`` synthetic listings with the canonical columns and a ``category`` label."""
    rng = np.random.default_rng(seed)
    cats = list(_CATALOGUE)
    labels = rng.choice(cats, size=n, p=np.linspace(1.5, 0.5, len(cats)) / np.linspace(1.5, 0.5, len(cats)).sum())
    rows = []
    for i, cat in enumerate(labels):
        spec = _CATALOGUE[cat]
        # 20 % of titles borrow a noun from another category, so the task is not trivial.
        noun_cat = cat if rng.random() > 0.2 else rng.choice(cats)
        brand = str(rng.choice(spec["brands"]))
        noun = str(rng.choice(_CATALOGUE[noun_cat]["nouns"]))
        adj = " ".join(rng.choice(_ADJECTIVES, size=rng.integers(0, 3), replace=False))
        lo, hi = spec["price"]
        price = float(np.round(np.exp(rng.uniform(np.log(lo), np.log(hi))), 0))
        rows.append(
            {
                "title": f"{brand} {adj} {noun} {rng.integers(1, 500)}".replace("  ", " "),
                "seller_id": f"S{rng.integers(0, 60):03d}",
                "brand": brand if rng.random() > 0.3 else None,
                "subcategory": str(rng.choice(spec["subs"])) if rng.random() > 0.1 else None,
                "price": price if rng.random() > 0.05 else np.nan,
                "rating": float(np.round(rng.uniform(2.5, 5.0), 1)) if rng.random() > 0.1 else np.nan,
                "reviews_count": float(rng.integers(0, 20000)) if rng.random() > 0.1 else np.nan,
                LABEL: cat,
                "_i": i,
            }
        )
    frame = pd.DataFrame(rows)
    return frame[list(INPUT_COLUMNS) + [LABEL]]
