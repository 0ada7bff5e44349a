"""English templates of the contract OCR error codes (zh-CN in frontend/locale/zh_CN/LC_MESSAGES/ocr.po)."""

ERROR_MESSAGES: dict[str, str] = {
    "ocr.*": "The contract could not be read.",
    "ocr.not_found": "Contract reading %(id)s was not found.",
    "ocr.unsupported_file": "This file is not an image (PNG, JPEG, WebP, GIF, TIFF, BMP) or a PDF.",
    "ocr.unreadable_file": "The file could not be opened as an image or a PDF.",
    "ocr.file_too_large": "The file is larger than %(max)s bytes.",
    "ocr.empty_file": "The file is empty.",
    "ocr.too_many_pixels": "The image has more than %(max)s pixels.",
    "ocr.timeout": "Reading a page took longer than %(seconds)s seconds.",
    "ocr.engine_failed": "The OCR engine (Tesseract) failed or is not installed.",
    "ocr.gave_up": "The contract could not be read after several tries.",
}
