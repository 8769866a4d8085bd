//! Streaming exports of what an organisation owns: every table as CSV (one file per table,
//! zipped, with the stored photos), or as one Excel workbook (a sheet per table); and a single
//! service user's record (subject access request) as a CSV zip.
//!
//! One mechanism serves all three. Rows are read in one read-only, repeatable-read transaction
//! as the requesting member, so RLS decides what the export holds (a registered manager sees
//! the whole organisation; nobody ever sees another's). Each row is written straight into a zip
//! stream (data descriptors, no seeking) and the zip's bytes go to the client as they are
//! produced, so memory stays flat however large the organisation is. The XLSX is written the
//! same way: an XLSX file is a zip of XML parts, and each sheet is streamed row by row with
//! inline strings.

use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use sqlx::{PgConnection, Postgres, Transaction};
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use uuid::Uuid;

use crate::at_rest::KeyProvider;
use zip::write::{SimpleFileOptions, StreamWriter};
use zip::{CompressionMethod, ZipWriter};

/// One exported table: its name (also the CSV file's and the sheet's), the order its rows come
/// in, the column tying a row to a service user (for a subject access request; `None`: the table
/// is not part of one), and columns never exported.
#[derive(Debug, Clone, Copy)]
pub struct Table {
    /// The schema: `public`, or `audit` for the audit trail.
    pub schema: &'static str,
    pub name: &'static str,
    pub order_by: &'static str,
    pub service_user_column: Option<&'static str>,
    pub excluded: &'static [&'static str],
}

const fn table(
    name: &'static str,
    order_by: &'static str,
    service_user_column: Option<&'static str>,
) -> Table {
    Table {
        schema: "public",
        name,
        order_by,
        service_user_column,
        excluded: &[],
    }
}

/// Everything an organisation owns, parents before children. A test checks that every table
/// under RLS is here or in [`NOT_EXPORTED`], so a new table cannot be left out silently.
pub const TABLES: &[Table] = &[
    table("organizations", "id", None),
    table("users", "email", None),
    table("roles", "name, id", None),
    table("role_permissions", "role_id, permission_key", None),
    table("memberships", "created_at, id", None),
    table("staff_invitations", "created_at, id", None).excluding(&["token_hash"]),
    table("service_users", "family_name, given_name, id", Some("id")),
    table(
        "staff_assignments",
        "service_user_id, user_id",
        Some("service_user_id"),
    ),
    table("care_notes", "created_at, id", Some("service_user_id")),
    table("care_plans", "created_at, id", Some("service_user_id")),
    table(
        "care_plan_sections",
        "created_at, id",
        Some("service_user_id"),
    ),
    table(
        "risk_assessments",
        "created_at, id",
        Some("service_user_id"),
    ),
    table("incidents", "created_at, id", Some("service_user_id")),
    table("body_map_marks", "created_at, id", Some("service_user_id")),
    table("observations", "created_at, id", Some("service_user_id")),
    table("handovers", "created_at, id", Some("service_user_id")),
    table(
        "handover_acknowledgements",
        "acknowledged_at, id",
        Some("service_user_id"),
    ),
    table("prescriptions", "created_at, id", Some("service_user_id")),
    table(
        "medication_administrations",
        "recorded_at, id",
        Some("service_user_id"),
    ),
    table(
        "medication_stock",
        "recorded_at, id",
        Some("service_user_id"),
    ),
    // The bytes go into the zip as files/<id>.<ext>; the sheet lists them.
    table("files", "created_at, id", Some("service_user_id"))
        .excluding(&["content", "content_nonce"]),
    Table {
        schema: "audit",
        ..table("audit_log", "seq", Some("service_user_id"))
    },
];

/// Tables under RLS that are deliberately not exported, and why.
pub const NOT_EXPORTED: &[(&str, &str)] = &[
    (
        "audit_heads",
        "the chain's head, derived from audit_log (exported)",
    ),
    (
        "purged_organizations",
        "operator-only tombstones of other, purged organisations",
    ),
];

impl Table {
    const fn excluding(self, excluded: &'static [&'static str]) -> Table {
        Table { excluded, ..self }
    }
}

/// What is being exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Organisation,
    ServiceUser(Uuid),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    CsvZip,
    Xlsx,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::CsvZip => "application/zip",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::CsvZip => "zip",
            Format::Xlsx => "xlsx",
        }
    }
}

/// The zip's bytes as they are produced, shared between the zip writer (which owns one handle)
/// and the exporter (which drains the other into the response).
#[derive(Clone, Default)]
struct Chunks(Arc<Mutex<Vec<u8>>>);

impl Chunks {
    fn take(&self) -> Vec<u8> {
        match self.0.lock() {
            Ok(mut buf) => std::mem::take(&mut *buf),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }

    fn len(&self) -> usize {
        match self.0.lock() {
            Ok(buf) => buf.len(),
            Err(poisoned) => poisoned.into_inner().len(),
        }
    }
}

impl Write for Chunks {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self.0.lock() {
            Ok(mut buf) => buf.extend_from_slice(data),
            Err(poisoned) => poisoned.into_inner().extend_from_slice(data),
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

type Zip = ZipWriter<StreamWriter<Chunks>>;

fn options() -> SimpleFileOptions {
    SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .large_file(true)
}

/// Writes tables into one of the two formats.
trait Sink {
    fn begin_table(&mut self, table: &str, columns: &[String]) -> io::Result<()>;
    fn row(&mut self, cells: &[Option<String>]) -> io::Result<()>;
    fn end_table(&mut self) -> io::Result<()>;
    fn file(&mut self, name: &str, bytes: &[u8]) -> io::Result<()>;
    fn finish(self: Box<Self>) -> io::Result<()>;
}

// ---------------------------------------------------------------------------------------------
// CSV

struct CsvZip {
    zip: Zip,
    line: Vec<u8>,
}

/// Whether a spreadsheet would read a text cell as a formula: `=`, `+`, `-`, `@`, tab or
/// carriage return first, and not a plain number.
fn formula_like(value: &str) -> bool {
    matches!(
        value.as_bytes().first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
    ) && value.parse::<f64>().is_err()
}

/// Appends one CSV line (RFC 4180, CRLF) of `cells` to `out`, written by the `csv` crate;
/// `None` is an empty cell. A cell a spreadsheet would read as a formula gets a leading `'`,
/// so opening the export cannot run anything: the usual guard against CSV injection.
pub fn csv_line<S: AsRef<str>>(
    out: &mut Vec<u8>,
    cells: impl IntoIterator<Item = Option<S>>,
) -> io::Result<()> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .flexible(true)
        .from_writer(out);
    for cell in cells {
        let value = cell.as_ref().map_or("", AsRef::as_ref);
        if formula_like(value) {
            writer.write_field(format!("'{value}"))?;
        } else {
            writer.write_field(value)?;
        }
    }
    writer.write_record(None::<&[u8]>)?;
    writer.flush()
}

impl CsvZip {
    fn line<S: AsRef<str>>(
        &mut self,
        cells: impl IntoIterator<Item = Option<S>>,
    ) -> io::Result<()> {
        self.line.clear();
        csv_line(&mut self.line, cells)?;
        self.zip.write_all(&self.line)
    }
}

impl Sink for CsvZip {
    fn begin_table(&mut self, table: &str, columns: &[String]) -> io::Result<()> {
        self.zip.start_file(format!("{table}.csv"), options())?;
        self.line(columns.iter().map(Some))
    }

    fn row(&mut self, cells: &[Option<String>]) -> io::Result<()> {
        self.line(cells.iter().map(Option::as_deref))
    }

    fn end_table(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn file(&mut self, name: &str, bytes: &[u8]) -> io::Result<()> {
        // Images are compressed already.
        let stored = options().compression_method(CompressionMethod::Stored);
        self.zip.start_file(name, stored)?;
        self.zip.write_all(bytes)
    }

    fn finish(self: Box<Self>) -> io::Result<()> {
        self.zip.finish()?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// XLSX (SpreadsheetML in a zip), every cell an inline string so nothing is reinterpreted.

struct Xlsx {
    zip: Zip,
    sheets: Vec<String>,
    row: u32,
    xml: String,
}

/// The longest text an Excel cell holds.
const XLSX_CELL_MAX: usize = 32_767;

/// Excel's column name for a 0-based index: A … Z, AA …
pub fn column_name(mut index: usize) -> String {
    let mut name = Vec::new();
    loop {
        name.push(b'A' + (index % 26) as u8);
        if index < 26 {
            break;
        }
        index = index / 26 - 1;
    }
    name.reverse();
    String::from_utf8(name).unwrap_or_default()
}

/// XML-escaped text, without the control characters XML 1.0 cannot hold.
fn xml_text(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
}

impl Xlsx {
    fn write_row(&mut self, cells: impl Iterator<Item = Option<String>>) -> io::Result<()> {
        self.row += 1;
        self.xml.clear();
        self.xml.push_str(&format!("<row r=\"{}\">", self.row));
        for (i, cell) in cells.enumerate() {
            let Some(v) = cell else { continue };
            let v = if v.len() > XLSX_CELL_MAX {
                let mut end = XLSX_CELL_MAX;
                while !v.is_char_boundary(end) {
                    end -= 1;
                }
                &v[..end]
            } else {
                &v[..]
            };
            self.xml.push_str(&format!(
                "<c r=\"{}{}\" t=\"inlineStr\"><is><t xml:space=\"preserve\">",
                column_name(i),
                self.row
            ));
            xml_text(&mut self.xml, v);
            self.xml.push_str("</t></is></c>");
        }
        self.xml.push_str("</row>");
        self.zip.write_all(self.xml.as_bytes())
    }
}

/// A sheet name: at most 31 characters, none of `[]:*?/\`. Table names already are.
fn sheet_name(table: &str) -> String {
    table
        .chars()
        .filter(|c| !matches!(c, '[' | ']' | ':' | '*' | '?' | '/' | '\\'))
        .take(31)
        .collect()
}

impl Sink for Xlsx {
    fn begin_table(&mut self, table: &str, columns: &[String]) -> io::Result<()> {
        self.sheets.push(sheet_name(table));
        self.zip.start_file(
            format!("xl/worksheets/sheet{}.xml", self.sheets.len()),
            options(),
        )?;
        self.zip.write_all(
            b"<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
              <worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\">\
              <sheetViews><sheetView workbookViewId=\"0\"><pane ySplit=\"1\" topLeftCell=\"A2\" \
              activePane=\"bottomLeft\" state=\"frozen\"/></sheetView></sheetViews><sheetData>",
        )?;
        self.row = 0;
        self.write_row(columns.iter().cloned().map(Some))
    }

    fn row(&mut self, cells: &[Option<String>]) -> io::Result<()> {
        self.write_row(cells.iter().cloned())
    }

    fn end_table(&mut self) -> io::Result<()> {
        self.zip.write_all(b"</sheetData></worksheet>")
    }

    fn file(&mut self, _name: &str, _bytes: &[u8]) -> io::Result<()> {
        // A workbook holds no photos: the CSV export carries them.
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> io::Result<()> {
        let n = self.sheets.len();
        let mut types = String::from(
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
             <Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">\
             <Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>\
             <Default Extension=\"xml\" ContentType=\"application/xml\"/>\
             <Override PartName=\"/xl/workbook.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml\"/>\
             <Override PartName=\"/xl/styles.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml\"/>",
        );
        let mut workbook = String::from(
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
             <workbook xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" \
             xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\"><sheets>",
        );
        let mut rels = String::from(
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
             <Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">",
        );
        for (i, name) in self.sheets.iter().enumerate() {
            let i = i + 1;
            types.push_str(&format!(
                "<Override PartName=\"/xl/worksheets/sheet{i}.xml\" \
                 ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml\"/>"
            ));
            let mut escaped = String::new();
            xml_text(&mut escaped, name);
            workbook.push_str(&format!(
                "<sheet name=\"{escaped}\" sheetId=\"{i}\" r:id=\"rId{i}\"/>"
            ));
            rels.push_str(&format!(
                "<Relationship Id=\"rId{i}\" \
                 Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet\" \
                 Target=\"worksheets/sheet{i}.xml\"/>"
            ));
        }
        types.push_str("</Types>");
        workbook.push_str("</sheets></workbook>");
        rels.push_str(&format!(
            "<Relationship Id=\"rId{}\" \
             Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles\" \
             Target=\"styles.xml\"/></Relationships>",
            n + 1
        ));
        let parts: [(&str, &str); 5] = [
            ("[Content_Types].xml", &types),
            (
                "_rels/.rels",
                "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
                 <Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">\
                 <Relationship Id=\"rId1\" \
                 Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument\" \
                 Target=\"xl/workbook.xml\"/></Relationships>",
            ),
            ("xl/workbook.xml", &workbook),
            ("xl/_rels/workbook.xml.rels", &rels),
            (
                "xl/styles.xml",
                "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
                 <styleSheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\">\
                 <fonts count=\"1\"><font><sz val=\"11\"/><name val=\"Calibri\"/></font></fonts>\
                 <fills count=\"2\"><fill><patternFill patternType=\"none\"/></fill>\
                 <fill><patternFill patternType=\"gray125\"/></fill></fills>\
                 <borders count=\"1\"><border><left/><right/><top/><bottom/><diagonal/></border></borders>\
                 <cellStyleXfs count=\"1\"><xf numFmtId=\"0\" fontId=\"0\" fillId=\"0\" borderId=\"0\"/></cellStyleXfs>\
                 <cellXfs count=\"1\"><xf numFmtId=\"0\" fontId=\"0\" fillId=\"0\" borderId=\"0\" xfId=\"0\"/></cellXfs>\
                 </styleSheet>",
            ),
        ];
        for (name, body) in parts {
            self.zip.start_file(name, options())?;
            self.zip.write_all(body.as_bytes())?;
        }
        self.zip.finish()?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Reading and streaming

/// Why an export stopped part-way (logged; the client sees a broken download).
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("writing: {0}")]
    Io(#[from] io::Error),
    #[error("zip: {0}")]
    Zip(#[from] zip::result::ZipError),
    #[error("the client went away")]
    Gone,
    #[error("opening a stored file: {0}")]
    Key(#[from] crate::at_rest::KeyError),
}

impl From<ExportError> for io::Error {
    fn from(e: ExportError) -> io::Error {
        io::Error::other(e.to_string())
    }
}

/// The exported columns of `table`, in their declared order, as this role sees them.
async fn columns(conn: &mut PgConnection, table: &Table) -> Result<Vec<String>, sqlx::Error> {
    let all: Vec<String> = sqlx::query_scalar(
        "select column_name::text from information_schema.columns
          where table_schema = $1 and table_name = $2 order by ordinal_position",
    )
    .bind(table.schema)
    .bind(table.name)
    .fetch_all(conn)
    .await?;
    Ok(all
        .into_iter()
        .filter(|c| !table.excluded.contains(&c.as_str()))
        .collect())
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Flushes what the zip has produced so far to the client once there is enough of it.
async fn drain(
    chunks: &Chunks,
    out: &mpsc::Sender<io::Result<Bytes>>,
    min: usize,
) -> Result<(), ExportError> {
    if chunks.len() >= min {
        out.send(Ok(Bytes::from(chunks.take())))
            .await
            .map_err(|_| ExportError::Gone)?;
    }
    Ok(())
}

const FLUSH_AT: usize = 64 * 1024;

/// Writes every table (restricted to one service user for [`Scope::ServiceUser`]) through `tx`
/// into `format`, sending the bytes down `out`.
pub async fn write(
    mut tx: Transaction<'static, Postgres>,
    scope: Scope,
    format: Format,
    keys: Arc<dyn KeyProvider>,
    out: mpsc::Sender<io::Result<Bytes>>,
) -> Result<(), ExportError> {
    let chunks = Chunks::default();
    let zip = ZipWriter::new_stream(chunks.clone());
    let mut sink: Box<dyn Sink + Send> = match format {
        Format::CsvZip => Box::new(CsvZip {
            zip,
            line: Vec::new(),
        }),
        Format::Xlsx => Box::new(Xlsx {
            zip,
            sheets: Vec::new(),
            row: 0,
            xml: String::new(),
        }),
    };
    for table in TABLES {
        let filter = match scope {
            Scope::Organisation => String::new(),
            Scope::ServiceUser(_) => match table.service_user_column {
                Some(col) => format!(" where t.{} = $1", quote_ident(col)),
                None => continue,
            },
        };
        let cols = columns(&mut tx, table).await?;
        sink.begin_table(table.name, &cols)?;
        let select = cols
            .iter()
            .map(|c| format!("t.{}::text", quote_ident(c)))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "select array[{select}]::text[] from {}.{} t{filter} order by {}",
            quote_ident(table.schema),
            quote_ident(table.name),
            table.order_by
        );
        let mut query = sqlx::query_scalar::<_, Vec<Option<String>>>(&sql);
        if let Scope::ServiceUser(id) = scope {
            query = query.bind(id);
        }
        let mut rows = query.fetch(&mut *tx);
        while let Some(row) = rows.next().await {
            sink.row(&row?)?;
            drain(&chunks, &out, FLUSH_AT).await?;
        }
        drop(rows);
        sink.end_table()?;
    }
    // The stored photos themselves, one at a time.
    let ids: Vec<(Uuid, String)> = match scope {
        Scope::Organisation => {
            sqlx::query_as("select id, content_type from files order by created_at, id")
                .fetch_all(&mut *tx)
                .await?
        }
        Scope::ServiceUser(id) => sqlx::query_as(
            "select id, content_type from files where service_user_id = $1 order by created_at, id",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?,
    };
    for (id, content_type) in ids {
        let row: Option<(Uuid, Vec<u8>, Option<Vec<u8>>)> = sqlx::query_as(
            "select organization_id, content, content_nonce from files where id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((org, content, nonce)) = row {
            // Sealed files are opened with the organisation's key; older rows are plaintext.
            let bytes = match nonce {
                Some(nonce) => {
                    let keys = keys.clone();
                    tokio::task::spawn_blocking(move || {
                        crate::at_rest::open_file(keys.as_ref(), org, id, &nonce, &content)
                    })
                    .await
                    .map_err(io::Error::other)??
                }
                None => content,
            };
            let ext = match content_type.as_str() {
                "image/jpeg" => "jpg",
                "image/png" => "png",
                _ => "webp",
            };
            sink.file(&format!("files/{id}.{ext}"), &bytes)?;
            drain(&chunks, &out, FLUSH_AT).await?;
        }
    }
    tx.commit().await?;
    sink.finish()?;
    drain(&chunks, &out, 1).await?;
    Ok(())
}

/// Starts [`write`] on its own task and returns the response body it fills. An error part-way
/// is logged and ends the body with an error, so the client sees a failed (not a short but
/// apparently complete) download.
pub fn stream(
    tx: Transaction<'static, Postgres>,
    scope: Scope,
    format: Format,
    keys: Arc<dyn KeyProvider>,
) -> Body {
    let (out, rx) = mpsc::channel::<io::Result<Bytes>>(8);
    tokio::spawn(async move {
        let started = std::time::Instant::now();
        let errors = out.clone();
        match write(tx, scope, format, keys, out).await {
            Ok(()) => {
                tracing::info!(?scope, ?format, elapsed = ?started.elapsed(), "export finished")
            }
            Err(ExportError::Gone) => {
                tracing::warn!(?scope, ?format, "export abandoned by the client")
            }
            Err(e) => {
                tracing::error!(?scope, ?format, error = %e, "export failed part-way");
                let _ = errors.send(Err(io::Error::other("export failed"))).await;
            }
        }
    });
    Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_neutralised() {
        let field = |v: &str| {
            let mut out = Vec::new();
            csv_line(&mut out, [Some(v), None]).expect("csv");
            String::from_utf8(out).expect("utf-8")
        };
        assert_eq!(field("plain"), "plain,\r\n");
        assert_eq!(field("a,b"), "\"a,b\",\r\n");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\",\r\n");
        assert_eq!(field("line\nbreak"), "\"line\nbreak\",\r\n");
        assert_eq!(
            field("=HYPERLINK(\"x\")"),
            "\"'=HYPERLINK(\"\"x\"\")\",\r\n"
        );
        assert_eq!(field("@SUM(A1)"), "'@SUM(A1),\r\n");
        assert_eq!(field("-12.5"), "-12.5,\r\n");
        assert_eq!(field("+44 20"), "'+44 20,\r\n");
        assert_eq!(field("\tx"), "'\tx,\r\n");
    }

    #[test]
    fn column_names_follow_excel() {
        assert_eq!(column_name(0), "A");
        assert_eq!(column_name(25), "Z");
        assert_eq!(column_name(26), "AA");
        assert_eq!(column_name(27), "AB");
        assert_eq!(column_name(701), "ZZ");
        assert_eq!(column_name(702), "AAA");
    }

    #[test]
    fn xml_text_escapes_and_drops_control_characters() {
        let mut s = String::new();
        xml_text(&mut s, "a<b>&\"c\"\u{1}\td");
        assert_eq!(s, "a&lt;b&gt;&amp;&quot;c&quot;\td");
    }
}
