"""Guess what a room is for from its name (Uzbek, Russian, English) if the registry is silent."""

from __future__ import annotations

from mehr.contract import SensorKind
from mehr.vocabulary import Place

__all__ = ["guess_place"]

# Lower-case fragments; the first place whose fragment occurs in the room name wins.
_KEYWORDS: tuple[tuple[Place, tuple[str, ...]], ...] = (
    (Place.KITCHEN, ("kitchen", "oshxona", "кухн")),
    (
        Place.BATHROOM,
        (
            "bath",
            "toilet",
            "wc",
            "shower",
            "hammom",
            "hojatxona",
            "ванн",
            "туалет",
            "душ",
            "санузел",
        ),
    ),
    (Place.BEDROOM, ("bed", "yotoq", "спальн")),
    (
        Place.ENTRANCE,
        (
            "entrance",
            "front",
            "hall",
            "porch",
            "yo'lak",
            "dahliz",
            "kirish",
            "прихож",
            "коридор",
            "вход",
        ),
    ),
    (Place.LIVING, ("living", "lounge", "mehmonxona", "zal", "гостин", "зал")),
)


# A mat or an appliance often names its object, not its room ("armchair", "kettle", "flush"):
# the object says where it is when the room name does not.
_OBJECTS: tuple[tuple[Place, tuple[str, ...]], ...] = (
    (Place.BATHROOM, ("flush", "toilet", "unitaz", "унитаз", "смыв")),
    (
        Place.KITCHEN,
        ("kettle", "microwave", "fridge", "stove", "cooker", "choynak", "чайник", "холодил"),
    ),
    (Place.BEDROOM, ("bed", "karavot", "кроват")),
    (Place.LIVING, ("chair", "sofa", "couch", "divan", "kreslo", "кресл", "диван")),
)
_OBJECT_KINDS = frozenset({SensorKind.OCCUPANCY, SensorKind.APPLIANCE})


def guess_place(kind: SensorKind, room: str, sensor_id: str = "") -> Place:
    """Return the place a sensor most likely watches; a front door contact is the entrance."""
    text = f"{room} {sensor_id}".lower()
    if kind in _OBJECT_KINDS:
        from_room = guess_place(SensorKind.MOTION, room)
        if from_room is not Place.OTHER:
            return from_room
        for place, words in _OBJECTS:
            if any(word in text for word in words):
                return place
    if kind is SensorKind.DOOR and any(
        w in text for w in ("front", "entrance", "kirish", "вход", "hall", "прихож", "yo'lak")
    ):
        return Place.ENTRANCE
    for place, words in _KEYWORDS:
        # Motion in a hall is not "the front door": only a door contact can mean leaving.
        if any(word in text for word in words) and (
            kind is SensorKind.DOOR or place is not Place.ENTRANCE
        ):
            return place
    return Place.OTHER
