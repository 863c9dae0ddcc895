# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""A config's custom_imports pulls posesor in, in a fresh interpreter."""
import subprocess
import sys
import textwrap


def test_custom_imports_registers_posesor(tmp_path):
    cfg = tmp_path / 'cfg.py'
    cfg.write_text(
        textwrap.dedent("""
        custom_imports = dict(imports=['posesor'], allow_failed_imports=False)
        model = dict(type='ProjAttention', embed_dims=8, num_heads=2)
        """))
    script = textwrap.dedent(f"""
        import sys
        from mmengine.config import Config
        from mmdet.registry import MODELS
        assert 'posesor' not in sys.modules
        cfg = Config.fromfile({str(cfg)!r})
        assert 'posesor' in sys.modules
        print(type(MODELS.build(cfg.model)).__module__)
        """)
    out = subprocess.run([sys.executable, '-c', script],
                         capture_output=True,
                         text=True,
                         check=True)
    assert out.stdout.strip().startswith('posesor.')
