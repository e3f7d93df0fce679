//! Excel workbooks (XLSX) to blocks: one level-1 section per worksheet with values, in
//! workbook order, headed by the sheet's name, holding a table of its rows (one line per row, cells separated
//! by ` | `, empty cells kept where later cells in the row have values, empty rows dropped).
//! Shared strings and inline strings are resolved; numbers and dates appear as stored (a date
//! is a serial number); formulas contribute their cached value. Caps keep a huge sheet from
//! flooding the index: at most [`MAX_ROWS`] rows per sheet, [`MAX_COLUMNS`] columns and
//! [`MAX_CELLS`] cells per workbook; what is cut is said in a closing paragraph and in the
//! `truncated` metadata. The title comes from `docProps/core.xml`; the other core properties
//! become metadata, with `sheets`, the sheet names.

use serde_json::Value;

use super::limits::Budget;
use super::office::{self, Ev, Package, attr, prefixed_attr};
use crate::document::{Block, BlockKind, ParsedDocument};
use crate::error::IngestError;

/// Rows read from one sheet.
pub(crate) const MAX_ROWS: usize = 10_000;
/// Columns read from one row (column A is 1).
pub(crate) const MAX_COLUMNS: usize = 256;
/// Non-empty cells read from the whole workbook.
pub(crate) const MAX_CELLS: usize = 500_000;

/// Converts an XLSX file.
pub(super) fn convert(bytes: &[u8], budget: &mut Budget<'_>) -> Result<ParsedDocument, IngestError> {
    let mut pkg = Package::open(bytes, budget)?;
    let workbook = office::rels(&mut pkg, "", budget)?
        .into_iter()
        .find(|r| r.kind == "officeDocument")
        .map(|r| r.target)
        .unwrap_or_else(|| "xl/workbook.xml".to_string());
    let xml = pkg.required_part(&workbook, budget)?;
    let mut sheets: Vec<(String, String)> = Vec::new();
    office::walk(&xml, &workbook, budget, |ev| {
        if let Ev::Open { name: b"sheet", el } = ev {
            sheets.push((attr(el, b"name").unwrap_or_default(), prefixed_attr(el, b"id").unwrap_or_default()));
        }
    })?;
    let rels = office::rels(&mut pkg, &workbook, budget)?;
    let strings_part = rels
        .iter()
        .find(|r| r.kind == "sharedStrings")
        .map(|r| r.target.clone())
        .unwrap_or("xl/sharedStrings.xml".into());
    let strings = match pkg.part(&strings_part, budget)? {
        Some(xml) => shared_strings(&xml, &strings_part, budget)?,
        None => Vec::new(),
    };

    let mut blocks = Vec::new();
    let mut cells_left = MAX_CELLS;
    let mut truncated = false;
    for (i, (name, rel_id)) in sheets.iter().enumerate() {
        let part = rels
            .iter()
            .find(|r| &r.id == rel_id)
            .map(|r| r.target.clone())
            .unwrap_or_else(|| format!("xl/worksheets/sheet{}.xml", i + 1));
        // Chart sheets and dialog sheets have no cells.
        let Some(xml) = pkg.part(&part, budget)? else { continue };
        let sheet = read_sheet(&xml, &part, &strings, &mut cells_left, budget)?;
        if sheet.rows.is_empty() && sheet.cut.is_none() {
            continue;
        }
        let name = if name.trim().is_empty() { format!("Sheet {}", i + 1) } else { name.clone() };
        blocks.push(Block::heading(1, name));
        if !sheet.rows.is_empty() {
            blocks.push(Block::new(BlockKind::Table, sheet.rows.join("\n")));
        }
        if let Some(note) = sheet.cut {
            truncated = true;
            blocks.push(Block::paragraph(note));
        }
    }

    let mut metadata = office::core_properties(&mut pkg, budget)?;
    metadata.insert("sheets".into(), Value::from(sheets.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>()));
    if truncated {
        metadata.insert("truncated".into(), Value::Bool(true));
    }
    let title = office::title_of(&metadata).unwrap_or_default();
    Ok(ParsedDocument { title, blocks, metadata })
}

/// The shared-string table: each `si`'s text runs joined (phonetic runs skipped).
fn shared_strings(xml: &str, part: &str, budget: &Budget<'_>) -> Result<Vec<String>, IngestError> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut in_text = false;
    let mut skip = 0usize;
    office::walk(xml, part, budget, |ev| match ev {
        Ev::Open { name: b"rPh", .. } => skip += 1,
        Ev::Close { name: b"rPh" } => skip = skip.saturating_sub(1),
        Ev::Open { name: b"si", .. } => current.clear(),
        Ev::Close { name: b"si" } => out.push(std::mem::take(&mut current)),
        Ev::Open { name: b"t", .. } => in_text = skip == 0,
        Ev::Close { name: b"t" } => in_text = false,
        Ev::Text(t) if in_text => current.push_str(t),
        _ => {}
    })?;
    Ok(out)
}

/// One sheet's rows as text, and a note when caps cut it.
#[derive(Debug, Default)]
struct Sheet {
    rows: Vec<String>,
    cut: Option<String>,
}

/// The 1-based column of a cell reference (`C7` → 3).
fn column_of(reference: &str) -> Option<usize> {
    let letters: &str = &reference[..reference.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(reference.len())];
    if letters.is_empty() || letters.len() > 3 {
        return None;
    }
    Some(letters.bytes().fold(0usize, |n, b| n * 26 + usize::from(b.to_ascii_uppercase() - b'A' + 1)))
}

fn read_sheet(
    xml: &str,
    part: &str,
    strings: &[String],
    cells_left: &mut usize,
    budget: &Budget<'_>,
) -> Result<Sheet, IngestError> {
    let mut sheet = Sheet::default();
    let mut row: Vec<String> = Vec::new();
    let mut rows_seen = 0usize;
    let mut cut_rows = 0usize;
    // Whether the current row past the row cap has a value (it is counted, not kept).
    let mut row_has_value = false;
    let mut cut_columns = false;
    let mut cut_cells = false;
    // The current cell: its column, type, and value text.
    let mut column = 0usize;
    let mut kind = String::new();
    let mut value = String::new();
    let mut in_value = false;
    office::walk(xml, part, budget, |ev| match ev {
        Ev::Open { name: b"row", .. } => {
            row.clear();
            rows_seen += 1;
        }
        Ev::Close { name: b"row" } => {
            if rows_seen > MAX_ROWS {
                if row_has_value {
                    cut_rows += 1;
                }
                row_has_value = false;
                return;
            }
            while row.last().is_some_and(String::is_empty) {
                row.pop();
            }
            if !row.is_empty() {
                sheet.rows.push(row.join(" | "));
            }
        }
        Ev::Open { name: b"c", el } => {
            column = attr(el, b"r").and_then(|r| column_of(&r)).unwrap_or(row.len() + 1);
            kind = attr(el, b"t").unwrap_or_default();
            value.clear();
        }
        // `v` holds a value; `t` inside `is` an inline string's runs.
        Ev::Open { name: b"v" | b"t", .. } => in_value = true,
        Ev::Close { name: b"v" | b"t" } => in_value = false,
        Ev::Text(t) if in_value => value.push_str(t),
        Ev::Close { name: b"c" } => {
            if rows_seen > MAX_ROWS {
                row_has_value |= !value.trim().is_empty();
                return;
            }
            let text = match kind.as_str() {
                "s" => value.trim().parse::<usize>().ok().and_then(|i| strings.get(i)).cloned().unwrap_or_default(),
                "b" => (if value.trim() == "1" { "TRUE" } else { "FALSE" }).to_string(),
                _ => value.clone(),
            };
            let text = super::collapse_whitespace(&text);
            if text.is_empty() {
                return;
            }
            if column > MAX_COLUMNS {
                cut_columns = true;
                return;
            }
            if *cells_left == 0 {
                cut_cells = true;
                return;
            }
            *cells_left -= 1;
            if row.len() < column {
                row.resize(column, String::new());
            }
            row[column - 1] = text;
        }
        _ => {}
    })?;
    let mut cuts = Vec::new();
    if cut_rows > 0 {
        cuts.push(format!("{cut_rows} more rows past the first {MAX_ROWS}"));
    }
    if cut_columns {
        cuts.push(format!("columns past the first {MAX_COLUMNS}"));
    }
    if cut_cells {
        cuts.push(format!("cells past the workbook's first {MAX_CELLS}"));
    }
    if !cuts.is_empty() {
        sheet.cut = Some(format!("(Not indexed: {}.)", cuts.join("; ")));
    }
    Ok(sheet)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::limits::ConvertLimits;
    use crate::convert::office::testing::{core_xml, package};

    const NS: &str = r#"xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships""#;

    fn workbook(sheets: &[&str]) -> (String, String) {
        let list: String = sheets
            .iter()
            .enumerate()
            .map(|(i, n)| format!(r#"<sheet name="{n}" sheetId="{}" r:id="rId{}"/>"#, i + 1, i + 1))
            .collect();
        let rels: String = (0..sheets.len())
            .map(|i| format!(r#"<Relationship Id="rId{}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet{}.xml"/>"#, i + 1, i + 1))
            .collect();
        (
            format!(r#"<workbook {NS}><sheets>{list}</sheets></workbook>"#),
            format!(
                r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{rels}</Relationships>"#
            ),
        )
    }

    fn sheet(rows: &str) -> String {
        format!(r#"<worksheet {NS}><sheetData>{rows}</sheetData></worksheet>"#)
    }

    fn convert_bytes(bytes: &[u8]) -> Result<ParsedDocument, IngestError> {
        let limits = ConvertLimits::unlimited();
        convert(bytes, &mut Budget::new("book.xlsx", "xlsx", &limits))
    }

    #[test]
    fn sheets_become_sections_with_resolved_strings() {
        let strings = r#"<sst><si><t>Item</t></si><si><t>Cost</t></si><si><r><t>Rent</t></r><r><t xml:space="preserve"> &amp; power</t></r><rPh><t>ignored</t></rPh></si></sst>"#;
        let budget = sheet(
            r#"<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>
               <row r="2"><c r="A2" t="s"><v>2</v></c><c r="C2"><f>SUM(X1)</f><v>1200.5</v></c></row>
               <row r="3"><c r="A3"/></row>
               <row r="4"><c r="A4" t="inlineStr"><is><t>Total</t></is></c><c r="B4" t="b"><v>1</v></c></row>"#,
        );
        let notes = sheet(r#"<row r="1"><c r="B1" t="str"><v>see Budget</v></c></row>"#);
        let (wb, rels) = workbook(&["Budget", "Notes", "Blank"]);
        let bytes = package(&[
            ("xl/worksheets/sheet3.xml", &sheet("")),
            ("xl/workbook.xml", &wb),
            ("xl/_rels/workbook.xml.rels", &rels),
            ("xl/sharedStrings.xml", strings),
            ("xl/worksheets/sheet1.xml", &budget),
            ("xl/worksheets/sheet2.xml", &notes),
            ("docProps/core.xml", &core_xml("Household", "Ann")),
        ]);
        let doc = convert_bytes(&bytes).unwrap();
        assert_eq!(doc.title, "Household");
        assert_eq!(doc.metadata["sheets"], serde_json::json!(["Budget", "Notes", "Blank"]));
        assert!(!doc.metadata.contains_key("truncated"));
        assert_eq!(
            doc.kinds_and_texts(),
            [
                (BlockKind::Heading { level: 1 }, "Budget"),
                (BlockKind::Table, "Item | Cost\nRent & power |  | 1200.5\nTotal | TRUE"),
                (BlockKind::Heading { level: 1 }, "Notes"),
                (BlockKind::Table, " | see Budget"),
            ]
        );
    }

    #[test]
    fn huge_sheets_are_capped_and_say_so() {
        let (wb, rels) = workbook(&["Big"]);
        let rows: String = (1..=MAX_ROWS + 5)
            .map(|r| format!(r#"<row r="{r}"><c r="A{r}"><v>{r}</v></c><c r="ZZ{r}"><v>x</v></c></row>"#))
            .collect();
        let bytes = package(&[
            ("xl/workbook.xml", &wb),
            ("xl/_rels/workbook.xml.rels", &rels),
            ("xl/worksheets/sheet1.xml", &sheet(&rows)),
        ]);
        let doc = convert_bytes(&bytes).unwrap();
        assert_eq!(doc.metadata["truncated"], true);
        let table = &doc.blocks[1].text;
        assert_eq!(table.lines().count(), MAX_ROWS);
        assert!(!table.contains('x'), "column ZZ is past the cap");
        let note = &doc.blocks[2].text;
        assert!(note.contains("5 more rows") && note.contains("columns past"), "{note}");
    }

    #[test]
    fn column_references() {
        assert_eq!(column_of("A1"), Some(1));
        assert_eq!(column_of("Z9"), Some(26));
        assert_eq!(column_of("AA10"), Some(27));
        assert_eq!(column_of("ZZ1"), Some(702));
        assert_eq!(column_of("12"), None);
    }

    #[test]
    fn a_workbook_without_its_workbook_part_is_an_error() {
        let err = convert_bytes(&package(&[("xl/styles.xml", "<x/>")])).unwrap_err();
        assert!(matches!(err, IngestError::Corrupt { .. }), "{err:?}");
        assert!(err.to_string().contains("xl/workbook.xml"), "{err}");
    }
}
