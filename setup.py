"""Packaging for the Ebuy customer-identity batch job."""

from setuptools import find_packages, setup

setup(
    name="ebuy-customer-identity",
    version="0.1.0",
    description="Resolve Ebuy Emporium's platform, CRM and guest-checkout records into one golden customer table on Spark.",
    python_requires=">=3.10",
    package_dir={"": "lib"},
    packages=find_packages("lib"),
    package_data={"customer_identity": ["data/*.csv"]},
    install_requires=[
        "pyspark==4.0.1",
        "delta-spark==4.0.0",  # declares pyspark>=4.0.0,<4.1.0
        "splink==5.0.0",
        "graphframes-py==0.10.1",
        "typing_extensions>=4.8",  # imported by graphframes-py, which does not declare it
        "pyyaml>=6.0",
        "nicknames==1.0.1",
        "faker>=30",
        "pandas>=2.0",
    ],
    extras_require={
        "dev": ["pytest>=8", "chispa==0.12.0", "networkx>=3.2", "ruff>=0.6", "jupytext>=1.16", "nbclient>=0.10", "ipykernel>=6.29"],
    },
)
