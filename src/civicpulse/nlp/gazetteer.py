"""Gazetteer data: Vietnamese provinces (34 after the 2025 merger + the 63 before it),
Thai provinces (77, from pythainlp's bundled list), Vietnamese and Thai ministries.

Vietnam: National Assembly Resolution 202/2025/QH15 (effective 12 June 2025) merged the 63
provinces/centrally-run cities into 34. ``VN_MERGER`` maps each current unit to the former
units it absorbed (the current unit keeps the name of one of them, listed first).
"""

from __future__ import annotations

# current unit -> former units (first = the one whose name was kept, when it was kept)
VN_MERGER: dict[str, list[str]] = {
    # unchanged
    "Hà Nội": ["Hà Nội"],
    "Huế": ["Thừa Thiên Huế"],
    "Lai Châu": ["Lai Châu"],
    "Điện Biên": ["Điện Biên"],
    "Sơn La": ["Sơn La"],
    "Lạng Sơn": ["Lạng Sơn"],
    "Quảng Ninh": ["Quảng Ninh"],
    "Thanh Hóa": ["Thanh Hóa"],
    "Nghệ An": ["Nghệ An"],
    "Hà Tĩnh": ["Hà Tĩnh"],
    "Cao Bằng": ["Cao Bằng"],
    # merged
    "Tuyên Quang": ["Tuyên Quang", "Hà Giang"],
    "Lào Cai": ["Lào Cai", "Yên Bái"],
    "Thái Nguyên": ["Thái Nguyên", "Bắc Kạn"],
    "Phú Thọ": ["Phú Thọ", "Vĩnh Phúc", "Hòa Bình"],
    "Bắc Ninh": ["Bắc Ninh", "Bắc Giang"],
    "Hưng Yên": ["Hưng Yên", "Thái Bình"],
    "Hải Phòng": ["Hải Phòng", "Hải Dương"],
    "Ninh Bình": ["Ninh Bình", "Hà Nam", "Nam Định"],
    "Quảng Trị": ["Quảng Trị", "Quảng Bình"],
    "Đà Nẵng": ["Đà Nẵng", "Quảng Nam"],
    "Quảng Ngãi": ["Quảng Ngãi", "Kon Tum"],
    "Gia Lai": ["Gia Lai", "Bình Định"],
    "Khánh Hòa": ["Khánh Hòa", "Ninh Thuận"],
    "Lâm Đồng": ["Lâm Đồng", "Đắk Nông", "Bình Thuận"],
    "Đắk Lắk": ["Đắk Lắk", "Phú Yên"],
    "Hồ Chí Minh": ["Hồ Chí Minh", "Bình Dương", "Bà Rịa - Vũng Tàu"],
    "Đồng Nai": ["Đồng Nai", "Bình Phước"],
    "Tây Ninh": ["Tây Ninh", "Long An"],
    "Cần Thơ": ["Cần Thơ", "Sóc Trăng", "Hậu Giang"],
    "Vĩnh Long": ["Vĩnh Long", "Bến Tre", "Trà Vinh"],
    "Đồng Tháp": ["Đồng Tháp", "Tiền Giang"],
    "Cà Mau": ["Cà Mau", "Bạc Liêu"],
    "An Giang": ["An Giang", "Kiên Giang"],
}

VN_CITIES = {"Hà Nội", "Huế", "Hải Phòng", "Đà Nẵng", "Hồ Chí Minh", "Cần Thơ"}

# Extra spellings (accented; unaccented forms are generated automatically).
VN_ALIASES: dict[str, list[str]] = {
    "Hồ Chí Minh": ["TP.HCM", "TP HCM", "TPHCM", "TP. HCM", "HCM", "Sài Gòn", "Saigon", "Ho Chi Minh City",
                    "Thành phố Hồ Chí Minh", "HCMC"],
    "Hà Nội": ["Hanoi", "Ha Noi", "TP Hà Nội"],
    "Thừa Thiên Huế": ["Thừa Thiên - Huế", "TT Huế", "TT-Huế", "Thua Thien Hue"],
    "Huế": ["thành phố Huế", "TP Huế", "Hue City"],
    "Bà Rịa - Vũng Tàu": ["Bà Rịa Vũng Tàu", "BR-VT", "BRVT", "Vũng Tàu"],
    "Đắk Lắk": ["Đăk Lăk", "Đắc Lắc", "Daklak", "Dak Lak"],
    "Đắk Nông": ["Đăk Nông", "Đắc Nông", "Daknong", "Dak Nong"],
    "Bắc Kạn": ["Bắc Cạn"],
    "Kon Tum": ["Kontum"],
    "Đà Nẵng": ["Danang", "Da Nang"],
    "Hải Phòng": ["Haiphong"],
    "Cần Thơ": ["Cantho"],
    "Thanh Hóa": ["Thanh Hoá"],
    "Khánh Hòa": ["Khánh Hoà", "Nha Trang"],
    "Hòa Bình": ["Hoà Bình"],
}

# Unaccented single/short forms that are ordinary words: only matched case-sensitively.
VN_CASE_SENSITIVE = {"Hue", "HCM", "Nam Dinh", "Ha Nam", "Long An", "Tay Ninh", "Yen Bai", "Gia Lai", "An Giang",
                     "Vinh Long", "Son La"}

# Vietnamese ministries (2025 structure) and the pre-2025 ministries merged into them.
VN_MINISTRIES: dict[str, dict[str, list[str] | str]] = {
    "mps": {"names": ["Bộ Công an", "Ministry of Public Security"]},
    "mod": {"names": ["Bộ Quốc phòng", "Ministry of National Defence", "Ministry of National Defense"]},
    "mofa": {"names": ["Bộ Ngoại giao", "Ministry of Foreign Affairs of Vietnam"]},
    "moha": {"names": ["Bộ Nội vụ", "Ministry of Home Affairs"]},
    "moj": {"names": ["Bộ Tư pháp", "Ministry of Justice of Vietnam"]},
    "mof": {"names": ["Bộ Tài chính", "Ministry of Finance of Vietnam"]},
    "moit": {"names": ["Bộ Công Thương", "Bộ Công thương", "Ministry of Industry and Trade"]},
    "mae": {"names": ["Bộ Nông nghiệp và Môi trường", "Ministry of Agriculture and Environment"]},
    "moc": {"names": ["Bộ Xây dựng", "Ministry of Construction"]},
    "mocst": {"names": ["Bộ Văn hóa, Thể thao và Du lịch", "Bộ Văn hóa Thể thao và Du lịch", "Bộ VHTTDL",
                        "Ministry of Culture, Sports and Tourism"]},
    "most": {"names": ["Bộ Khoa học và Công nghệ", "Bộ KH&CN", "Bộ KHCN", "Ministry of Science and Technology"]},
    "moet": {"names": ["Bộ Giáo dục và Đào tạo", "Bộ GD&ĐT", "Bộ GDĐT", "Ministry of Education and Training"]},
    "moh": {"names": ["Bộ Y tế", "Ministry of Health of Vietnam"]},
    "moer": {"names": ["Bộ Dân tộc và Tôn giáo", "Ministry of Ethnic and Religious Affairs"]},
    "sbv": {"names": ["Ngân hàng Nhà nước", "NHNN", "State Bank of Vietnam"]},
    "gi": {"names": ["Thanh tra Chính phủ", "Government Inspectorate"]},
    "ogv": {"names": ["Văn phòng Chính phủ", "Government Office"]},
    # former ministries -> current
    "mpi": {"names": ["Bộ Kế hoạch và Đầu tư", "Bộ KH&ĐT", "Bộ KHĐT", "Ministry of Planning and Investment"],
            "current": "mof"},
    "mot": {"names": ["Bộ Giao thông vận tải", "Bộ GTVT", "Ministry of Transport"], "current": "moc"},
    "molisa": {"names": ["Bộ Lao động - Thương binh và Xã hội", "Bộ Lao động Thương binh và Xã hội", "Bộ LĐTBXH",
                         "Bộ LĐ-TB&XH", "Ministry of Labour, Invalids and Social Affairs"], "current": "moha"},
    "mic": {"names": ["Bộ Thông tin và Truyền thông", "Bộ TT&TT", "Bộ TTTT",
                      "Ministry of Information and Communications"], "current": "most"},
    "monre": {"names": ["Bộ Tài nguyên và Môi trường", "Bộ TN&MT", "Bộ TNMT",
                        "Ministry of Natural Resources and Environment"], "current": "mae"},
    "mard": {"names": ["Bộ Nông nghiệp và Phát triển nông thôn", "Bộ NN&PTNT", "Bộ NNPTNT",
                       "Ministry of Agriculture and Rural Development"], "current": "mae"},
    "cema": {"names": ["Ủy ban Dân tộc", "Uỷ ban Dân tộc", "Committee for Ethnic Minority Affairs"],
             "current": "moer"},
}

TH_MINISTRIES: dict[str, list[str]] = {
    "opm": ["สำนักนายกรัฐมนตรี", "Office of the Prime Minister"],
    "mod": ["กระทรวงกลาโหม", "Ministry of Defence of Thailand"],
    "mof": ["กระทรวงการคลัง", "Ministry of Finance of Thailand"],
    "mfa": ["กระทรวงการต่างประเทศ", "Ministry of Foreign Affairs of Thailand"],
    "mots": ["กระทรวงการท่องเที่ยวและกีฬา", "Ministry of Tourism and Sports"],
    "msdhs": ["กระทรวงการพัฒนาสังคมและความมั่นคงของมนุษย์", "กระทรวง พม.", "Ministry of Social Development and Human Security"],
    "mhesi": ["กระทรวงการอุดมศึกษา วิทยาศาสตร์ วิจัยและนวัตกรรม", "กระทรวงการอุดมศึกษาวิทยาศาสตร์วิจัยและนวัตกรรม",
              "กระทรวง อว.", "Ministry of Higher Education, Science, Research and Innovation"],
    "moac": ["กระทรวงเกษตรและสหกรณ์", "Ministry of Agriculture and Cooperatives"],
    "mot": ["กระทรวงคมนาคม", "Ministry of Transport of Thailand"],
    "mnre": ["กระทรวงทรัพยากรธรรมชาติและสิ่งแวดล้อม", "Ministry of Natural Resources and Environment of Thailand"],
    "mdes": ["กระทรวงดิจิทัลเพื่อเศรษฐกิจและสังคม", "Ministry of Digital Economy and Society"],
    "moen": ["กระทรวงพลังงาน", "Ministry of Energy"],
    "moc": ["กระทรวงพาณิชย์", "Ministry of Commerce"],
    "moi": ["กระทรวงมหาดไทย", "Ministry of Interior", "Ministry of the Interior"],
    "moj": ["กระทรวงยุติธรรม", "Ministry of Justice of Thailand"],
    "mol": ["กระทรวงแรงงาน", "Ministry of Labour", "Ministry of Labor"],
    "m-culture": ["กระทรวงวัฒนธรรม", "Ministry of Culture"],
    "moe": ["กระทรวงศึกษาธิการ", "Ministry of Education"],
    "moph": ["กระทรวงสาธารณสุข", "Ministry of Public Health"],
    "moind": ["กระทรวงอุตสาหกรรม", "Ministry of Industry"],
}

# Thai province names that are also common words: matched only after จังหวัด / จ.
TH_AMBIGUOUS = {"เลย", "ตาก", "แพร่", "น่าน", "ตรัง", "กระบี่", "พิจิตร", "ยโสธร"}

_TH_FALLBACK = """กระบี่,กบ,Krabi,KBI
กรุงเทพมหานคร,กทม,Bangkok,BKK"""


def thai_provinces() -> list[tuple[str, str, str]]:
    """(thai name, english name, code) for the 77 provinces, from pythainlp's bundled CSV."""
    rows: list[tuple[str, str, str]] = []
    try:
        import os

        import pythainlp

        path = os.path.join(os.path.dirname(pythainlp.__file__), "corpus", "thailand_provinces_th.csv")
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except Exception:
        text = _TH_FALLBACK
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 4 and parts[0] and not parts[0].startswith("#"):
            rows.append((parts[0], parts[2], parts[3]))
    return rows
