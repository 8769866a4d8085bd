//! A small SVG bar chart with a text alternative (the figures as a list for screen readers).

use leptos::prelude::*;

/// Bars of `data` (label, value), titled `title`.
#[component]
pub fn BarChart(title: String, data: Vec<(String, f64)>) -> impl IntoView {
    let max = data.iter().map(|(_, v)| *v).fold(1.0_f64, f64::max);
    let n = data.len().max(1) as f64;
    let (w, h) = (320.0_f64, 120.0_f64);
    let bw = w / n;
    let summary = data
        .iter()
        .map(|(l, v)| format!("{l}: {v}"))
        .collect::<Vec<_>>()
        .join(", ");
    view! {
        <figure class="chart">
            <svg viewBox=format!("0 0 {w} {}", h + 20.0) role="img" aria-label=format!("{title}. {summary}")>
                {data.iter().enumerate().map(|(i, (label, v))| {
                    let bh = (v / max) * (h - 14.0);
                    let x = i as f64 * bw + 4.0;
                    view! {
                        <g>
                            <rect x=x y=h - bh width=(bw - 8.0).max(2.0) height=bh class="bar"></rect>
                            <text x=x + (bw - 8.0) / 2.0 y=h - bh - 2.0 text-anchor="middle" class="bar-value">{v.to_string()}</text>
                            <text x=x + (bw - 8.0) / 2.0 y=h + 14.0 text-anchor="middle" class="bar-label">{label.clone()}</text>
                        </g>
                    }
                }).collect_view()}
            </svg>
            <figcaption>{title}</figcaption>
        </figure>
    }
}
