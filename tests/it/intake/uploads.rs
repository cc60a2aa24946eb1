//! Uploads: type by content, size and pixel limits, EXIF orientation and stripping, scaling.

use super::*;

async fn upload_record(
    app: &TestApp,
    token: &str,
    case_id: i64,
    bytes: Vec<u8>,
    name: &str,
    mime: &str,
) -> (StatusCode, Value) {
    let form = Form::new().part("file", file_part(bytes, name, mime));
    multipart(
        app,
        Method::POST,
        &format!("/api/v1/cases/{case_id}/records"),
        token,
        form,
    )
    .await
}

async fn fetch(app: &TestApp, token: &str, url: &str) -> reqwest::Response {
    app.client
        .get(app.url(url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// The body of a stored file (a photo or its thumbnail).
async fn fetch_bytes(app: &TestApp, token: &str, url: &str) -> Vec<u8> {
    fetch(app, token, url).await.bytes().await.unwrap().to_vec()
}

/// A PNG header claiming `w`×`h` pixels, with a tiny (valid) compressed body: a decompression
/// bomb's shape without its bytes.
fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    fn crc(data: &[u8]) -> u32 {
        let mut c = 0xFFFF_FFFFu32;
        for &b in data {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
        }
        !c
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc(&body).to_be_bytes());
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]); // 8-bit greyscale
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(
        &mut out,
        b"IDAT",
        &[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    chunk(&mut out, b"IEND", &[]);
    out
}

/// A JPEG with an EXIF block: an orientation (6: turn 90° clockwise) and a GPS position.
fn jpeg_with_exif(w: u32, h: u32, orientation: u8) -> Vec<u8> {
    // TIFF header (big endian), IFD0 with Orientation=6 and a GPS IFD pointer.
    let mut t: Vec<u8> = b"MM\0\x2a\0\0\0\x08".to_vec();
    t.extend_from_slice(&2u16.to_be_bytes());
    t.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, orientation, 0, 0]); // Orientation
    t.extend_from_slice(&[0x88, 0x25, 0, 4, 0, 0, 0, 1, 0, 0, 0, 38]); // GPS IFD at 38
    t.extend_from_slice(&0u32.to_be_bytes());
    // GPS IFD: GPSLatitudeRef = "N", and a marker string the output must not carry.
    t.extend_from_slice(&2u16.to_be_bytes());
    t.extend_from_slice(&[0x00, 0x01, 0, 2, 0, 0, 0, 2, b'N', 0, 0, 0]);
    t.extend_from_slice(&[0x00, 0x1B, 0, 7, 0, 0, 0, 16, 0, 0, 0, 68]); // GPSProcessingMethod
    t.extend_from_slice(&0u32.to_be_bytes());
    t.extend_from_slice(b"GPS-SECRET-SPOT!");
    let img = image::RgbImage::from_fn(w, h, |x, _| {
        if x < w / 2 {
            image::Rgb([255, 0, 0])
        } else {
            image::Rgb([0, 0, 255])
        }
    });
    let mut out = Vec::new();
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90);
    use image::ImageEncoder;
    enc.set_exif_metadata(t).unwrap();
    enc.write_image(img.as_raw(), w, h, image::ExtendedColorType::Rgb8)
        .unwrap();
    out
}

#[tokio::test]
async fn uploads_are_typed_by_content_and_limited() {
    let app = TestApp::spawn().await;
    let (_, token) = student(&app, "2024001").await;
    let case_id = new_case(&app, &token).await;
    // Not an image, whatever the name and declared type say.
    let got = upload_record(
        &app,
        &token,
        case_id,
        b"GIF89a\x01\x00\x01\x00".to_vec(),
        "x.jpg",
        "image/jpeg",
    )
    .await;
    assert_error(
        &got,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_file_type",
    );
    let got = upload_record(
        &app,
        &token,
        case_id,
        b"<html><script>alert(1)</script>".to_vec(),
        "x.png",
        "image/png",
    )
    .await;
    assert_error(
        &got,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_file_type",
    );
    // Too large: 25 MiB is the default limit.
    let big = vec![0xFFu8; 25 * 1024 * 1024 + 1];
    let got = upload_record(&app, &token, case_id, big, "big.jpg", "image/jpeg").await;
    assert_error(&got, StatusCode::PAYLOAD_TOO_LARGE, "file_too_large");
    // Decompression bombs: too wide for the decoder's limits, or too many pixels in total.
    for (w, h) in [(30_000, 30_000), (10_000, 10_000)] {
        let got = upload_record(
            &app,
            &token,
            case_id,
            png_claiming(w, h),
            "bomb.png",
            "image/png",
        )
        .await;
        assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "image_too_large");
    }
    // A truncated JPEG is not an image we can read.
    let mut broken = jpeg(100, 100);
    broken.truncate(200);
    let got = upload_record(&app, &token, case_id, broken, "b.jpg", "image/jpeg").await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "unreadable_image");
    assert_eq!(
        case(&app, &token, case_id).await["records"],
        json!([]),
        "nothing stored"
    );

    // PDF and WebP are accepted; the PDF is served as a PDF with nosniff.
    let pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF".to_vec();
    let (status, rec) = upload_record(
        &app,
        &token,
        case_id,
        pdf.clone(),
        "r.pdf",
        "application/octet-stream",
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{rec}");
    let resp = fetch(&app, &token, rec["url"].as_str().unwrap()).await;
    assert_eq!(resp.headers()["content-type"], "application/pdf");
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    assert_eq!(resp.bytes().await.unwrap().to_vec(), pdf);
    let mut webp = Vec::new();
    image::DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(
        40,
        30,
        image::Rgba([10, 200, 10, 255]),
    ))
    .write_with_encoder(image::codecs::webp::WebPEncoder::new_lossless(&mut webp))
    .unwrap();
    let (status, rec) = upload_record(&app, &token, case_id, webp, "w.webp", "image/webp").await;
    assert_eq!(status, StatusCode::CREATED, "{rec}");
    let resp = fetch(&app, &token, rec["url"].as_str().unwrap()).await;
    assert_eq!(resp.headers()["content-type"], "image/jpeg");
    // Stored outside any web root: no static route reaches it.
    let files = app.data_dir.join("files");
    assert!(files.is_dir(), "files stored under the data directory");
}

#[tokio::test]
async fn photos_are_turned_upright_scaled_and_stripped_of_exif() {
    let app = TestApp::spawn().await;
    let (_, token) = student(&app, "2024001").await;
    let case_id = new_case(&app, &token).await;
    let original = jpeg_with_exif(80, 40, 6);
    assert!(
        original.windows(16).any(|w| w == b"GPS-SECRET-SPOT!"),
        "fixture carries GPS data"
    );
    let (rec, stored) = stored_without_metadata(&app, &token, case_id, &original, "exif.jpg").await;
    let img = image::load_from_memory(&stored).unwrap();
    assert_eq!(
        (img.width(), img.height()),
        (40, 80),
        "turned upright by the EXIF orientation"
    );
    // Orientation 6: the left (red) half ends up on top.
    let top = img.to_rgb8().get_pixel(20, 5).0;
    assert!(top[0] > 200 && top[2] < 60, "red on top, got {top:?}");
    let thumb = fetch(&app, &token, rec["thumb_url"].as_str().unwrap()).await;
    assert_eq!(thumb.headers()["content-type"], "image/jpeg");

    // A 24-megapixel phone photo goes through, scaled to 4096 px on the long side.
    let big = jpeg(6000, 4000);
    assert!(big.len() < 25 * 1024 * 1024);
    let (status, rec) = upload_record(&app, &token, case_id, big, "phone.jpg", "image/jpeg").await;
    assert_eq!(status, StatusCode::CREATED, "{rec}");
    let stored = fetch_bytes(&app, &token, rec["url"].as_str().unwrap()).await;
    let img = image::load_from_memory(&stored).unwrap();
    assert_eq!((img.width(), img.height()), (4096, 2731));
    let thumb = fetch_bytes(&app, &token, rec["thumb_url"].as_str().unwrap()).await;
    let t = image::load_from_memory(&thumb).unwrap();
    assert!(t.width() <= 320 && t.height() <= 320);
}

/// Uploads `original` as a record photo; answers the record and the stored bytes, checked to
/// carry neither the EXIF block nor the GPS data of [`jpeg_with_exif`].
async fn stored_without_metadata(
    app: &TestApp,
    token: &str,
    case_id: i64,
    original: &[u8],
    name: &str,
) -> (Value, Vec<u8>) {
    let (status, rec) =
        upload_record(app, token, case_id, original.to_vec(), name, "image/jpeg").await;
    assert_eq!(status, StatusCode::CREATED, "{rec}");
    let stored = fetch_bytes(app, token, rec["url"].as_str().unwrap()).await;
    assert!(!stored.windows(4).any(|w| w == b"Exif"), "EXIF removed");
    assert!(
        !stored.windows(16).any(|w| w == b"GPS-SECRET-SPOT!"),
        "GPS removed"
    );
    (rec, stored)
}

/// An upright photo that needs no scaling is stored as it was sent, only without its EXIF
/// (issue 19 item 2): the same pixels, nothing re-encoded.
#[tokio::test]
async fn upright_photos_are_kept_as_sent_without_their_metadata() {
    let app = TestApp::spawn().await;
    let (_, token) = student(&app, "2024001").await;
    let case_id = new_case(&app, &token).await;
    let original = jpeg_with_exif(640, 480, 1);
    let (rec, stored) =
        stored_without_metadata(&app, &token, case_id, &original, "upright.jpg").await;
    assert!(stored.len() < original.len());
    assert_eq!(
        image::load_from_memory(&stored).unwrap().to_rgb8(),
        image::load_from_memory(&original).unwrap().to_rgb8(),
        "the picture as sent"
    );
    let thumb = fetch_bytes(&app, &token, rec["thumb_url"].as_str().unwrap()).await;
    let t = image::load_from_memory(&thumb).unwrap();
    assert_eq!((t.width(), t.height()), (320, 240), "the thumbnail is made");
}

/// The values of each quantization table of a JPEG (its DQT segments before the scan), each
/// table's sorted: turning the blocks transposes the tables, a re-encoding writes its own.
fn quantization_tables(jpeg: &[u8]) -> Vec<Vec<u8>> {
    let mut tables = Vec::new();
    let mut at = 2;
    while at + 4 <= jpeg.len() && jpeg[at] == 0xFF && jpeg[at + 1] != 0xDA {
        let len = usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
        if jpeg[at + 1] == 0xDB {
            // 8-bit tables: a byte naming the table, then its 64 values.
            for table in jpeg[at + 4..at + 2 + len].chunks(65) {
                let mut values = table[1..].to_vec();
                values.sort_unstable();
                tables.push(values);
            }
        }
        at += 2 + len;
    }
    tables
}

/// A photo its EXIF turns (a phone held upright) is turned without decoding when its sides
/// are whole blocks (issue 19): upright, EXIF and GPS gone, and the same compressed blocks
/// (the sender's quantization tables, transposed with the blocks, not a re-encoding's).
#[tokio::test]
async fn turned_photos_are_turned_without_re_encoding() {
    let app = TestApp::spawn().await;
    let (_, token) = student(&app, "2024001").await;
    let case_id = new_case(&app, &token).await;
    let original = jpeg_with_exif(640, 480, 6);
    let (rec, stored) =
        stored_without_metadata(&app, &token, case_id, &original, "portrait.jpg").await;
    assert_eq!(
        quantization_tables(&stored),
        quantization_tables(&original),
        "not re-encoded"
    );
    let img = image::load_from_memory(&stored).unwrap().to_rgb8();
    let mut want = image::load_from_memory(&original).unwrap();
    want.apply_orientation(image::metadata::Orientation::Rotate90);
    let want = want.to_rgb8();
    assert_eq!(img.dimensions(), (480, 640));
    let worst = img
        .pixels()
        .zip(want.pixels())
        .flat_map(|(p, q)| (0..3).map(move |c| p.0[c].abs_diff(q.0[c])))
        .max()
        .unwrap();
    assert!(worst <= 8, "the picture turned: largest difference {worst}");
    let top = img.get_pixel(240, 10).0;
    assert!(top[0] > 200 && top[2] < 60, "red on top, got {top:?}");
    let thumb = fetch_bytes(&app, &token, rec["thumb_url"].as_str().unwrap()).await;
    let t = image::load_from_memory(&thumb).unwrap();
    assert_eq!(
        (t.width(), t.height()),
        (240, 320),
        "the thumbnail is upright"
    );
}

#[tokio::test]
async fn json_edits_on_upload_routes_keep_the_json_size_limit() {
    let app = TestApp::spawn().await;
    let (_, token) = student(&app, "2024001").await;
    let (_, inv) = ready_case(&app, &token, "J-1").await;
    let huge = "x".repeat(2 * 1024 * 1024);
    let got = app
        .call(
            Method::PATCH,
            &format!("/api/v1/invoices/{inv}"),
            Some(&token),
            Some(json!({"invoice_no": huge})),
        )
        .await;
    assert_error(&got, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
}
