"""Where each dataset's archive comes from: :class:`Source` and the table
:data:`SOURCES` (address, file name, the publisher's digest, size or size ceiling, or
the manual step). Re-exported by :mod:`bottlekit.datasets.download`.
"""

from __future__ import annotations

from dataclasses import dataclass

from bottlekit.datasets._file_download import DEFAULT_MAX_BYTES


@dataclass(frozen=True)
class Source:
    """Where a dataset comes from.

    Parameters
    ----------
    url : str or None
        The public archive (None: no direct download).
    filename : str
        The archive's file name.
    sha256 : str or None
        The archive's sha256, None where bottlekit has none to check against.
    extracts_to : str
        The folder the archive creates (the loader's ``root``).
    manual : str or None
        Why and how to fetch it by hand, for datasets that cannot be downloaded.
    md5 : str or None
        The archive's md5 as its publisher gives it (CIFAR, CUB), None where none is
        published. md5 detects a corrupted or substituted download from the publisher's
        address; it is what the publishers give, so it is what can be checked.
    digest_from : str or None
        Where the digest comes from.
    size : int or None
        The archive's exact size in bytes, where it is known: the download refuses any
        byte beyond it (and a ``Content-Length`` above it before reading).
    max_bytes : int or None
        A ceiling for an archive whose exact size is not known (a rounded-up bound on
        its published size); None with ``size`` given, or for no download.

    Examples
    --------
    >>> s = Source("https://example.org/data.tgz", "data.tgz", None, "data", size=1024)
    >>> s.extracts_to, s.manual is None
    ('data', True)
    """

    url: str | None
    filename: str
    sha256: str | None
    extracts_to: str
    manual: str | None = None
    md5: str | None = None
    digest_from: str | None = None
    size: int | None = None
    max_bytes: int | None = None

    @property
    def cap(self) -> int:
        """The most bytes a download of this archive may bring: ``size``, else
        ``max_bytes``, else :data:`DEFAULT_MAX_BYTES`."""
        for bound in (self.size, self.max_bytes):
            if bound is not None:
                return bound
        return DEFAULT_MAX_BYTES

    @property
    def digests(self) -> dict[str, str]:
        """The known digests, ``{"md5": ..., "sha256": ...}`` (those not None)."""
        return {a: d for a, d in (("md5", self.md5), ("sha256", self.sha256)) if d is not None}


#: Per dataset: the archive, its checksum, and the manual step where one is needed.
SOURCES: dict[str, Source] = {
    "cub": Source(
        "https://data.caltech.edu/records/65de6-vp158/files/CUB_200_2011.tgz?download=1",
        "CUB_200_2011.tgz",
        None,
        "CUB_200_2011",
        md5="97eceeb196236b17998738112f37df78",
        digest_from="the md5 of the release's CUB_200_2011.tgz, as the common loaders "
        "check it (torchvision-style Cub2011 datasets, avalanche's CUB200)",
        size=1_150_585_339,
    ),
    "waterbirds": Source(
        "https://downloads.cs.stanford.edu/nlp/data/dro/waterbird_complete95_forest2water2.tar.gz",
        "waterbird_complete95_forest2water2.tar.gz",
        None,
        "waterbird_complete95_forest2water2",
        max_bytes=4 * 2**30,  # exact size unknown; its 11,788 images are CUB's (1.15 GB)
    ),
    "awa2": Source(
        "https://cvml.ista.ac.at/AwA2/AwA2-data.zip",
        "AwA2-data.zip",
        None,
        "Animals_with_Attributes2",
        max_bytes=16 * 2**30,  # exact size unknown; the AwA2 page gives "13 GB"
    ),
    "cifar10": Source(
        "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
        "cifar-10-binary.tar.gz",
        None,
        "cifar-10-batches-bin",
        md5="c32a1d4ab5d03f1284b67883e8d87530",
        digest_from="md5 on https://www.cs.toronto.edu/~kriz/cifar.html (binary version)",
        size=170_052_171,
    ),
    "cifar100": Source(
        "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
        "cifar-100-binary.tar.gz",
        None,
        "cifar-100-binary",
        md5="03b5dce01913d631647c71ecec9e9cb8",
        digest_from="md5 on https://www.cs.toronto.edu/~kriz/cifar.html (binary version)",
        size=168_513_733,
    ),
    "celeba": Source(
        None,
        "img_align_celeba.zip",
        None,
        ".",
        manual=(
            "CelebA is shared through Google Drive and cannot be fetched automatically: "
            "from https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html download "
            "img_align_celeba.zip, list_attr_celeba.txt and list_eval_partition.txt into "
            "{root} and extract the zip there, or keep the share's layout in {root}: "
            "Anno/list_attr_celeba.txt, Eval/list_eval_partition.txt and "
            "Img/img_align_celeba.zip extracted into Img/ (the Kaggle mirror's CSV lists and "
            "nested img_align_celeba/img_align_celeba/ are read too)"
        ),
    ),
    "ham10000": Source(
        None,
        "HAM10000_images_part_1.zip",
        None,
        ".",
        manual=(
            "HAM10000 is on the Harvard Dataverse behind its terms of use: accept them at "
            "https://doi.org/10.7910/DVN/DBW86T, download HAM10000_metadata (.csv or .tab), "
            "HAM10000_images_part_1.zip and HAM10000_images_part_2.zip, and extract them "
            "into {root}"
        ),
    ),
    "imagefolder": Source(
        None,
        "",
        None,
        ".",
        manual=(
            "an image folder is your own data (ImageNet needs an account and its licence "
            "at https://image-net.org): put one sub-folder per class under {root}"
        ),
    ),
}
