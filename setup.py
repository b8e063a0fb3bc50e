"""Packaging for fitsense-luigi.

The canonical parameter file and JSON Schemas live in the repository's
``config/`` directory; ``build_py`` copies them into the package as
``fitsense_luigi/_config`` so that an installed wheel (the container image) runs
on the same embedded defaults as a checkout.
The reference data files under ``fitsense_luigi/reference/data`` ship as
package data (and in sdists through MANIFEST.in).
"""

import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).parent
VERSION = {}
exec((HERE / "fitsense_luigi" / "_version.py").read_text(), VERSION)


class BuildWithConfig(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "fitsense_luigi" / "_config"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(HERE / "config", target)


setup(
    name="fitsense-luigi",
    version=VERSION["__version__"],
    description="Luigi pipeline that builds distillation data for the FitSense coaching model",
    packages=find_packages(include=["fitsense_luigi", "fitsense_luigi.*"]),
    # reference data files (catalogue, conditions, medications, ...), read with importlib.resources
    package_data={"fitsense_luigi.reference": ["data/*.csv"]},
    python_requires=">=3.11",
    install_requires=[
        "luigi>=3.5,<4",
        "pandas>=2.2",
        "pyarrow>=15",
        "numpy>=1.26",
        "faker>=20",
        "requests>=2.31",
        "urllib3>=2",
        "certifi",
        "backoff>=2.2",
        "jsonschema>=4.20",
        "pyyaml>=6",
        "matplotlib>=3.8",
        "scipy>=1.11",
        "datasketch>=2.0,<3",
        "jsonschema-rs>=0.25,<1",
        "boto3>=1.28",  # s3:// data roots through luigi.contrib.s3
        "tokenizers>=0.15",  # dataset.tokens.tokenizer: the student's tokenizer.json, read offline
        "Jinja2>=3.1",  # chat templates, rendered as transformers renders them
    ],
    cmdclass={"build_py": BuildWithConfig},
)
