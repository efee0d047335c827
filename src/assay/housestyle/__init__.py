"""House style from an exemplar codebase (issue 17, point 4).

- `model`: the versioned JSON document (`HouseStyle`) and its loader (`load_house_style`);
- `scan`: the exemplar's files, parsed, with their digest and commit;
- `extract`: the conventions counted from the syntax trees (no model);
- `render`: the reviewed Markdown, and the brief the roles' prompts open with.
"""

from assay.housestyle.model import SCHEMA_VERSION, HouseStyle, load_house_style

__all__ = ["SCHEMA_VERSION", "HouseStyle", "load_house_style"]
