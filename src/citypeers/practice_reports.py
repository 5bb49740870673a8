"""Read the practice marts from the serving warehouse for `citypeers practices` and
`citypeers impact`: what cities did, and whether it worked.

The estimates are made in dbt (int_practice_impacts_estimated, a Python model calling
`citypeers.impact`); this module only prints the marts, read-only, with every number next to its
uncertainty and grade.
"""

from __future__ import annotations

from pathlib import Path

from citypeers.benchmarking import BenchmarkLookupError, _close_matches, format_table, open_serving, resolve_city

PRACTICE_MARTS = ("dim_city", "dim_practice", "fct_practice_impact", "fct_practice_impact_series",
                  "fct_practice_impact_donors")


def practices_report(typed_city: str | None = None, domain: str | None = None, database: Path | None = None) -> str:
    """Every practice (of one city, of one domain), with its estimated effect per targeted indicator."""
    with open_serving(database, PRACTICE_MARTS) as con:
        conditions, parameters, scope = [], [], "every city"
        if typed_city:
            city_id, city_name = resolve_city(con, typed_city)
            conditions.append("p.city_id = ?")
            parameters.append(city_id)
            scope = city_name
        if domain:
            domains = [row[0] for row in con.execute("select distinct domain from dim_practice").fetchall()]
            if domain not in domains:
                raise BenchmarkLookupError(f"no practices in domain '{domain}'; domains with practices: "
                                           f"{', '.join(sorted(d for d in domains if d)) or 'none'}")
            conditions.append("p.domain = ?")
            parameters.append(domain)
        where = f"where {' and '.join(conditions)}" if conditions else ""
        rows = con.execute(
            f"""
            select p.practice_id, p.city_name, p.category_name, strftime(p.start_date, '%Y-%m-%d'),
                   i.indicator_code, i.effect_summary, i.evidence_grade,
                   case when p.is_demo then 'demo' else '' end
            from dim_practice p
            left join fct_practice_impact i using (practice_id)
            {where}
            order by p.city_name, p.start_date, p.practice_id, i.indicator_code
            """,
            parameters,
        ).fetchall()
    if not rows:
        return f"No practices registered for {scope}{f' in domain {domain}' if domain else ''}."
    headers = ["practice", "city", "category", "start", "indicator", "effect", "grade", ""]
    return (f"Practices of {scope}{f' ({domain})' if domain else ''} and their estimated effects\n"
            + format_table(headers, rows)
            + "\n\nDetails, donors and the placebo test: citypeers impact PRACTICE_ID")


def impact_report(practice_id: str, indicator: str | None = None, database: Path | None = None) -> str:
    """One practice's estimates: the city against its synthetic control, the donors and weights,
    the placebo distribution, the grade and why."""
    with open_serving(database, PRACTICE_MARTS) as con:
        known = [row[0] for row in con.execute("select practice_id from dim_practice").fetchall()]
        if practice_id not in known:
            raise _close_matches(practice_id, {p: p for p in known}, "practice")
        title, city_name, start = con.execute(
            "select title, city_name, start_date from dim_practice where practice_id = ?", [practice_id]
        ).fetchone()
        estimates = con.execute(
            """
            select indicator_code, indicator_name, unit, grain, pre_points, post_points, candidate_donor_count,
                   donor_count, effect, effect_lower, effect_upper, effect_pct, effect_pct_lower, effect_pct_upper,
                   interval_method, interval_level, effect_pct_by_post_year, pre_rmspe, pre_rmspe_pct,
                   post_pre_rmspe_ratio, placebo_p_value, placebo_count, evidence_grade, grade_reason
            from fct_practice_impact where practice_id = ? and (? is null or indicator_code = ?)
            order by indicator_code
            """,
            [practice_id, indicator, indicator],
        ).fetchall()
        sections = [f"{practice_id}: {title} — {city_name}, since {start:%Y-%m-%d}"]
        if not estimates:
            sections.append(f"no estimate{f' for {indicator}' if indicator else ''} (the practice targets no "
                            "catalogue indicator with data)")
        for (code, name, unit, grain, pre, post, candidates, donors, effect, low, high, pct, pct_low, pct_high,
             method, level, by_year, rmspe, rmspe_pct, ratio, p_value, placebos, grade, reason) in estimates:
            sections.append(f"\n{name} ({code}), {grain}ly series: evidence {grade.upper()}\n  {reason}")
            sections.append(f"  pre-period {pre} points, post-period {post} points; "
                            f"{donors} donors with complete data of {candidates} eligible candidates")
            if effect is not None:
                sections.append(
                    f"  effect {effect:+.2f} {unit} ({pct:+.1f}% of the counterfactual), "
                    f"{level:.0%} interval {low:+.2f} to {high:+.2f} {unit} ({pct_low:+.1f}% to {pct_high:+.1f}%), "
                    f"{method}")
                sections.append(f"  per post year: {by_year}; pre-period fit RMSPE {rmspe:.2f} {unit} "
                                f"({rmspe_pct:.1f}% of the pre mean); post/pre RMSPE ratio {ratio:.2f}, "
                                f"placebo p = {p_value:.3f} over {placebos} placebos")
            series = con.execute(
                """
                select strftime(period_start, '%Y-%m'), case when is_post then 'after' else 'before' end,
                       actual_value, synthetic_value, gap
                from fct_practice_impact_series where practice_id = ? and indicator_code = ?
                order by period_start
                """,
                [practice_id, code],
            ).fetchall()
            sections.append("\n  The city against its synthetic control\n"
                            + _indent(format_table(["period", "start", "actual", "synthetic", "gap"], series)))
            donor_rows = con.execute(
                """
                select donor_city_name, donor_city_id, donor_weight, placebo_ratio,
                       case when is_similar_city and is_in_peer_group then 'similar city, peer group'
                            when is_similar_city then 'similar city' else 'peer group' end,
                       coalesce(exclusion_reason, left_out_reason, '')
                from fct_practice_impact_donors where practice_id = ? and indicator_code = ?
                order by donor_weight desc nulls last, placebo_ratio desc nulls last, donor_city_id
                """,
                [practice_id, code],
            ).fetchall()
            sections.append("\n  Donors, weights and placebo ratios (post/pre RMSPE with the donor as adopter)\n"
                            + _indent(format_table(["donor", "city_id", "weight", "placebo ratio", "candidate as",
                                                    "left out because"], donor_rows)))
    return "\n".join(sections)


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())
