"""City briefs: one document per city for officials, in English and Spanish, from the serving warehouse.

`content` reads the marts, `view` puts them into sentences in a language (`i18n`), `charts` draws
the SVG charts, `render` writes HTML and PDF, `batch` renders every city and the index page
(the `report__city_briefs` DAG and `citypeers briefs`). See docs/city_brief.md.
"""
