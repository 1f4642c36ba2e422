//! An invoice as a one-page PDF (A4, Helvetica, WinAnsi text), written with `pdf-writer`.
//! Text outside printable ASCII is replaced by `?`, so every string is valid in the font's
//! encoding whatever a user typed.

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str};

/// What the page shows.
#[derive(Debug, Clone)]
pub struct InvoiceDoc {
    pub number: String,
    pub issue_date: String,
    pub paid_date: Option<String>,
    pub status: String,
    pub billed_to: String,
    pub seller: String,
    pub currency: String,
    /// (description, amount as text)
    pub items: Vec<(String, String)>,
    pub total: String,
}

fn text(s: &str, max: usize) -> Vec<u8> {
    s.chars().take(max).map(|c| if (' '..='~').contains(&c) { c as u8 } else { b'?' }).collect()
}

/// The PDF's bytes.
pub fn render(d: &InvoiceDoc) -> Vec<u8> {
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let page_id = Ref::new(3);
    let font_id = Ref::new(4);
    let bold_id = Ref::new(5);
    let content_id = Ref::new(6);
    let (regular, bold) = (Name(b"F1"), Name(b"F2"));

    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree).kids([page_id]).count(1);
    let mut page = pdf.page(page_id);
    page.media_box(Rect::new(0.0, 0.0, 595.0, 842.0));
    page.parent(tree);
    page.contents(content_id);
    {
        let mut resources = page.resources();
        let mut fonts = resources.fonts();
        fonts.pair(regular, font_id);
        fonts.pair(bold, bold_id);
    }
    page.finish();
    pdf.type1_font(font_id).base_font(Name(b"Helvetica")).encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.type1_font(bold_id).base_font(Name(b"Helvetica-Bold")).encoding_predefined(Name(b"WinAnsiEncoding"));

    let mut c = Content::new();
    let line = |c: &mut Content, font: Name, size: f32, x: f32, y: f32, s: &[u8]| {
        c.begin_text();
        c.set_font(font, size);
        c.next_line(x, y);
        c.show(Str(s));
        c.end_text();
    };
    line(&mut c, bold, 22.0, 56.0, 770.0, b"INVOICE");
    line(&mut c, regular, 11.0, 56.0, 745.0, &[b"Invoice number: ".as_slice(), &text(&d.number, 40)].concat());
    line(&mut c, regular, 11.0, 56.0, 729.0, &[b"Issue date: ".as_slice(), &text(&d.issue_date, 40)].concat());
    let paid = d.paid_date.as_deref().map(|p| format!("Paid: {p}")).unwrap_or_else(|| format!("Status: {}", d.status));
    line(&mut c, regular, 11.0, 56.0, 713.0, &text(&paid, 60));
    line(&mut c, bold, 11.0, 56.0, 680.0, b"From");
    line(&mut c, regular, 11.0, 56.0, 664.0, &text(&d.seller, 80));
    line(&mut c, bold, 11.0, 320.0, 680.0, b"Billed to");
    line(&mut c, regular, 11.0, 320.0, 664.0, &text(&d.billed_to, 45));

    line(&mut c, bold, 11.0, 56.0, 620.0, b"Description");
    line(&mut c, bold, 11.0, 440.0, 620.0, &[b"Amount (".as_slice(), &text(&d.currency, 3), b")"].concat());
    c.move_to(56.0, 612.0).line_to(539.0, 612.0).stroke();
    let mut y = 596.0;
    for (desc, amount) in d.items.iter().take(20) {
        line(&mut c, regular, 11.0, 56.0, y, &text(desc, 60));
        line(&mut c, regular, 11.0, 440.0, y, &text(amount, 20));
        y -= 16.0;
    }
    c.move_to(56.0, y + 8.0).line_to(539.0, y + 8.0).stroke();
    line(&mut c, bold, 12.0, 320.0, y - 10.0, b"Total");
    line(&mut c, bold, 12.0, 440.0, y - 10.0, &text(&d.total, 20));
    pdf.stream(content_id, &c.finish());
    pdf.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pdf_with_its_number() {
        let d = InvoiceDoc {
            number: "INV-2026-000001".into(),
            issue_date: "2026-12-02".into(),
            paid_date: Some("2026-12-02".into()),
            status: "paid".into(),
            billed_to: "zoë@example.com".into(),
            seller: "Hoody".into(),
            currency: "USD".into(),
            items: vec![("Transfer to AI credits (fee 5%) (x)".into(), "10.00".into())],
            total: "10.00".into(),
        };
        let bytes = render(&d);
        assert!(bytes.starts_with(b"%PDF-"));
        let s = String::from_utf8_lossy(&bytes);
        assert!(s.contains("INV-2026-000001") && s.contains("zo?@example.com"), "{s}");
    }
}
