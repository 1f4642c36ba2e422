//! The activity log: one record per authenticated request (who, which token and realm, what,
//! how it ended, how long it took, from where), written in batches.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::{Flushed, Queue};

pub struct Activity {
    pub user_id: String,
    pub token_id: Option<String>,
    pub realm_id: Option<String>,
    pub method: String,
    pub route: Option<String>,
    pub path: String,
    pub status: u16,
    pub duration_ms: f32,
    pub ip: String,
    pub user_agent: Option<String>,
    pub at: DateTime<Utc>,
}

pub type ActivityQueue = Queue<Activity>;

static UNAVAILABLE: crate::telemetry::Throttle = crate::telemetry::Throttle::new(std::time::Duration::from_secs(10));

/// Write the batch with one `COPY` (text format). While the database is away the batch comes back
/// to be held and written later (at least once: a COPY whose reply was lost may be written twice).
pub async fn flush(db: &PgPool, rows: Vec<Activity>) -> Flushed<Activity> {
    let n = rows.len();
    let mut data = Vec::with_capacity(n * 200);
    for r in &rows {
        let status = r.status.to_string();
        let duration = format!("{:.3}", r.duration_ms);
        let at = r.at.to_rfc3339();
        let id = crate::db::new_id();
        let fields: [Option<&str>; 12] = [
            Some(&id),
            Some(&r.user_id),
            r.token_id.as_deref(),
            r.realm_id.as_deref(),
            Some(&r.method),
            r.route.as_deref(),
            Some(&r.path),
            Some(&status),
            Some(&duration),
            Some(&r.ip),
            r.user_agent.as_deref(),
            Some(&at),
        ];
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                data.push(b'\t');
            }
            copy_field(&mut data, *f);
        }
        data.push(b'\n');
    }
    let done = crate::db::activity::copy_in(db, data).await;
    match done {
        Ok(_) => Flushed::Written,
        Err(e) => super::failed(&UNAVAILABLE, "activity", e, rows),
    }
}

/// One value in COPY's text format: `\N` for null; backslash, tab, newline and carriage return
/// escaped; NUL (which text columns cannot hold) dropped.
fn copy_field(out: &mut Vec<u8>, v: Option<&str>) {
    let Some(v) = v else {
        out.extend_from_slice(b"\\N");
        return;
    };
    for b in v.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0 => {}
            _ => out.push(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::copy_field;

    #[test]
    fn copy_text_escapes() {
        let mut out = Vec::new();
        copy_field(&mut out, Some("a\tb\\c\nd\re\0f"));
        out.push(b'|');
        copy_field(&mut out, None);
        assert_eq!(String::from_utf8(out).unwrap(), "a\\tb\\\\c\\nd\\ref|\\N");
    }
}
