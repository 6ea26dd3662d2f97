"""Renderer of textured body meshes for training data, test scenes and the demo clip (torch side).

Modules, one job each:

* ``gl``          offscreen OpenGL context (moderngl + EGL), GL_RENDERER check, install hints
* ``rasterizer``  textured, lit mesh rasterisation -> colour/alpha/depth/person/part layers, compositing
* ``body_mesh``   body model prepared for rendering (seam-split vertices, UVs, part labels, posing)
* ``renderer``    body mesh + rasteriser + garment layout, one per process
* ``appearance``  garment regions on the UV map, fabrics, skin tones, hair
* ``images``      texture / background folders with the split by source photo
* ``backgrounds`` photo backgrounds and ray-cast indoor rooms
* ``cameras``     camera sampling (seed ranges, robot preset)
* ``poses``       motion-capture / random poses, shapes
* ``augment``     lighting, noise, blur, JPEG, occluders
* ``sampler``     one sample (person crop) from (seed, index)
* ``dataset``     ``RenderDataset`` (the sample contract) and collation
"""
