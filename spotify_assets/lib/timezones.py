"""One IANA time zone per country, for "local time" (docs/USER_GUIDE.md, "KPI definitions"): a
play's ``ts`` (UTC) moved into the zone of its ``conn_country``.

Rule: a country with one zone in tzdb gets it; a country with several gets its capital's (the
seat of government's), so a country's plays share one clock. ``conn_country`` null (Spotify's
``ZZ``, unknown, is normalized to null at parse time) or not in this table: ``UTC``
(:data:`UNKNOWN_COUNTRY_TIME_ZONE`), so such plays still fall into an hour, the UTC one.

How it was made (once; nothing is read at run time, so every machine gets the same answer): the
keys are :data:`spotify_assets.lib.listening.export_files.ISO_COUNTRIES` (ISO 3166-1 alpha-2 plus
XK); each value is the first zone ``/usr/share/zoneinfo/zone.tab`` (tzdata 2025b) lists for the
code, which for most multi-zone countries is the capital's; the exceptions (marked below) were
set by hand after checking every multi-zone country of zone.tab, and three codes zone.tab does
not list (BV, HM, XK) were given a zone by hand. The comments say which. To refresh, redo
exactly that; ``spotify_assets_tests/lib/test_timezones.py`` checks every zone resolves in
Python's ``zoneinfo`` and DuckDB's ICU.
"""

from __future__ import annotations

#: The zone of plays whose country is null or unknown.
UNKNOWN_COUNTRY_TIME_ZONE = "UTC"

#: ISO 3166-1 alpha-2 code -> IANA zone (the capital's where the country has several).
COUNTRY_TIMEZONES: dict[str, str] = {
    "AD": "Europe/Andorra",
    "AE": "Asia/Dubai",
    "AF": "Asia/Kabul",
    "AG": "America/Antigua",
    "AI": "America/Anguilla",
    "AL": "Europe/Tirane",
    "AM": "Asia/Yerevan",
    "AO": "Africa/Luanda",
    "AQ": "Antarctica/McMurdo",  # 10 zones, no capital: the first (largest station)
    "AR": "America/Argentina/Buenos_Aires",  # 12 zones; the first is the capital's
    "AS": "Pacific/Pago_Pago",
    "AT": "Europe/Vienna",
    "AU": "Australia/Sydney",  # capital Canberra; zone.tab lists Australia/Lord_Howe first
    "AW": "America/Aruba",
    "AX": "Europe/Mariehamn",
    "AZ": "Asia/Baku",
    "BA": "Europe/Sarajevo",
    "BB": "America/Barbados",
    "BD": "Asia/Dhaka",
    "BE": "Europe/Brussels",
    "BF": "Africa/Ouagadougou",
    "BG": "Europe/Sofia",
    "BH": "Asia/Bahrain",
    "BI": "Africa/Bujumbura",
    "BJ": "Africa/Porto-Novo",
    "BL": "America/St_Barthelemy",
    "BM": "Atlantic/Bermuda",
    "BN": "Asia/Brunei",
    "BO": "America/La_Paz",
    "BQ": "America/Kralendijk",
    "BR": "America/Sao_Paulo",  # capital Brasilia; zone.tab lists America/Noronha first
    "BS": "America/Nassau",
    "BT": "Asia/Thimphu",
    "BV": "UTC",  # uninhabited, no zone in tzdb
    "BW": "Africa/Gaborone",
    "BY": "Europe/Minsk",
    "BZ": "America/Belize",
    "CA": "America/Toronto",  # capital Ottawa; zone.tab lists America/St_Johns first
    "CC": "Indian/Cocos",
    "CD": "Africa/Kinshasa",  # 2 zones; the first is the capital's
    "CF": "Africa/Bangui",
    "CG": "Africa/Brazzaville",
    "CH": "Europe/Zurich",
    "CI": "Africa/Abidjan",
    "CK": "Pacific/Rarotonga",
    "CL": "America/Santiago",  # 4 zones; the first is the capital's
    "CM": "Africa/Douala",
    "CN": "Asia/Shanghai",  # 2 zones; the first is the capital's
    "CO": "America/Bogota",
    "CR": "America/Costa_Rica",
    "CU": "America/Havana",
    "CV": "Atlantic/Cape_Verde",
    "CW": "America/Curacao",
    "CX": "Indian/Christmas",
    "CY": "Asia/Nicosia",  # 2 zones; the first is the capital's
    "CZ": "Europe/Prague",
    "DE": "Europe/Berlin",  # 2 zones; the first is the capital's
    "DJ": "Africa/Djibouti",
    "DK": "Europe/Copenhagen",
    "DM": "America/Dominica",
    "DO": "America/Santo_Domingo",
    "DZ": "Africa/Algiers",
    "EC": "America/Guayaquil",  # 2 zones; the first is the capital's
    "EE": "Europe/Tallinn",
    "EG": "Africa/Cairo",
    "EH": "Africa/El_Aaiun",
    "ER": "Africa/Asmara",
    "ES": "Europe/Madrid",  # 3 zones; the first is the capital's
    "ET": "Africa/Addis_Ababa",
    "FI": "Europe/Helsinki",
    "FJ": "Pacific/Fiji",
    "FK": "Atlantic/Stanley",
    "FM": "Pacific/Pohnpei",  # capital Palikir; zone.tab lists Pacific/Chuuk first
    "FO": "Atlantic/Faroe",
    "FR": "Europe/Paris",
    "GA": "Africa/Libreville",
    "GB": "Europe/London",
    "GD": "America/Grenada",
    "GE": "Asia/Tbilisi",
    "GF": "America/Cayenne",
    "GG": "Europe/Guernsey",
    "GH": "Africa/Accra",
    "GI": "Europe/Gibraltar",
    "GL": "America/Nuuk",  # 4 zones; the first is the capital's
    "GM": "Africa/Banjul",
    "GN": "Africa/Conakry",
    "GP": "America/Guadeloupe",
    "GQ": "Africa/Malabo",
    "GR": "Europe/Athens",
    "GS": "Atlantic/South_Georgia",
    "GT": "America/Guatemala",
    "GU": "Pacific/Guam",
    "GW": "Africa/Bissau",
    "GY": "America/Guyana",
    "HK": "Asia/Hong_Kong",
    "HM": "Indian/Kerguelen",  # uninhabited, no zone in tzdb; UTC+5 like its neighbours
    "HN": "America/Tegucigalpa",
    "HR": "Europe/Zagreb",
    "HT": "America/Port-au-Prince",
    "HU": "Europe/Budapest",
    "ID": "Asia/Jakarta",  # 4 zones; the first is the capital's
    "IE": "Europe/Dublin",
    "IL": "Asia/Jerusalem",
    "IM": "Europe/Isle_of_Man",
    "IN": "Asia/Kolkata",
    "IO": "Indian/Chagos",
    "IQ": "Asia/Baghdad",
    "IR": "Asia/Tehran",
    "IS": "Atlantic/Reykjavik",
    "IT": "Europe/Rome",
    "JE": "Europe/Jersey",
    "JM": "America/Jamaica",
    "JO": "Asia/Amman",
    "JP": "Asia/Tokyo",
    "KE": "Africa/Nairobi",
    "KG": "Asia/Bishkek",
    "KH": "Asia/Phnom_Penh",
    "KI": "Pacific/Tarawa",  # 3 zones; the first is the capital's
    "KM": "Indian/Comoro",
    "KN": "America/St_Kitts",
    "KP": "Asia/Pyongyang",
    "KR": "Asia/Seoul",
    "KW": "Asia/Kuwait",
    "KY": "America/Cayman",
    "KZ": "Asia/Almaty",  # 7 zones; the first is the capital's
    "LA": "Asia/Vientiane",
    "LB": "Asia/Beirut",
    "LC": "America/St_Lucia",
    "LI": "Europe/Vaduz",
    "LK": "Asia/Colombo",
    "LR": "Africa/Monrovia",
    "LS": "Africa/Maseru",
    "LT": "Europe/Vilnius",
    "LU": "Europe/Luxembourg",
    "LV": "Europe/Riga",
    "LY": "Africa/Tripoli",
    "MA": "Africa/Casablanca",
    "MC": "Europe/Monaco",
    "MD": "Europe/Chisinau",
    "ME": "Europe/Podgorica",
    "MF": "America/Marigot",
    "MG": "Indian/Antananarivo",
    "MH": "Pacific/Majuro",  # 2 zones; the first is the capital's
    "MK": "Europe/Skopje",
    "ML": "Africa/Bamako",
    "MM": "Asia/Yangon",
    "MN": "Asia/Ulaanbaatar",  # 2 zones; the first is the capital's
    "MO": "Asia/Macau",
    "MP": "Pacific/Saipan",
    "MQ": "America/Martinique",
    "MR": "Africa/Nouakchott",
    "MS": "America/Montserrat",
    "MT": "Europe/Malta",
    "MU": "Indian/Mauritius",
    "MV": "Indian/Maldives",
    "MW": "Africa/Blantyre",
    "MX": "America/Mexico_City",  # 12 zones; the first is the capital's
    "MY": "Asia/Kuala_Lumpur",  # 2 zones; the first is the capital's
    "MZ": "Africa/Maputo",
    "NA": "Africa/Windhoek",
    "NC": "Pacific/Noumea",
    "NE": "Africa/Niamey",
    "NF": "Pacific/Norfolk",
    "NG": "Africa/Lagos",
    "NI": "America/Managua",
    "NL": "Europe/Amsterdam",
    "NO": "Europe/Oslo",
    "NP": "Asia/Kathmandu",
    "NR": "Pacific/Nauru",
    "NU": "Pacific/Niue",
    "NZ": "Pacific/Auckland",  # 2 zones; the first is the capital's
    "OM": "Asia/Muscat",
    "PA": "America/Panama",
    "PE": "America/Lima",
    "PF": "Pacific/Tahiti",  # 3 zones; the first is the capital's
    "PG": "Pacific/Port_Moresby",  # 2 zones; the first is the capital's
    "PH": "Asia/Manila",
    "PK": "Asia/Karachi",
    "PL": "Europe/Warsaw",
    "PM": "America/Miquelon",
    "PN": "Pacific/Pitcairn",
    "PR": "America/Puerto_Rico",
    "PS": "Asia/Hebron",  # seat of government Ramallah, West Bank; zone.tab lists Asia/Gaza first
    "PT": "Europe/Lisbon",  # 3 zones; the first is the capital's
    "PW": "Pacific/Palau",
    "PY": "America/Asuncion",
    "QA": "Asia/Qatar",
    "RE": "Indian/Reunion",
    "RO": "Europe/Bucharest",
    "RS": "Europe/Belgrade",
    "RU": "Europe/Moscow",  # capital Moscow; zone.tab lists Europe/Kaliningrad first
    "RW": "Africa/Kigali",
    "SA": "Asia/Riyadh",
    "SB": "Pacific/Guadalcanal",
    "SC": "Indian/Mahe",
    "SD": "Africa/Khartoum",
    "SE": "Europe/Stockholm",
    "SG": "Asia/Singapore",
    "SH": "Atlantic/St_Helena",
    "SI": "Europe/Ljubljana",
    "SJ": "Arctic/Longyearbyen",
    "SK": "Europe/Bratislava",
    "SL": "Africa/Freetown",
    "SM": "Europe/San_Marino",
    "SN": "Africa/Dakar",
    "SO": "Africa/Mogadishu",
    "SR": "America/Paramaribo",
    "SS": "Africa/Juba",
    "ST": "Africa/Sao_Tome",
    "SV": "America/El_Salvador",
    "SX": "America/Lower_Princes",
    "SY": "Asia/Damascus",
    "SZ": "Africa/Mbabane",
    "TC": "America/Grand_Turk",
    "TD": "Africa/Ndjamena",
    "TF": "Indian/Kerguelen",
    "TG": "Africa/Lome",
    "TH": "Asia/Bangkok",
    "TJ": "Asia/Dushanbe",
    "TK": "Pacific/Fakaofo",
    "TL": "Asia/Dili",
    "TM": "Asia/Ashgabat",
    "TN": "Africa/Tunis",
    "TO": "Pacific/Tongatapu",
    "TR": "Europe/Istanbul",
    "TT": "America/Port_of_Spain",
    "TV": "Pacific/Funafuti",
    "TW": "Asia/Taipei",
    "TZ": "Africa/Dar_es_Salaam",
    "UA": "Europe/Kyiv",  # capital Kyiv; zone.tab lists Europe/Simferopol first
    "UG": "Africa/Kampala",
    "UM": "Pacific/Midway",  # 2 zones, no capital: the first
    "US": "America/New_York",  # 29 zones; the first is the capital's
    "UY": "America/Montevideo",
    "UZ": "Asia/Tashkent",  # capital Tashkent; zone.tab lists Asia/Samarkand first
    "VA": "Europe/Vatican",
    "VC": "America/St_Vincent",
    "VE": "America/Caracas",
    "VG": "America/Tortola",
    "VI": "America/St_Thomas",
    "VN": "Asia/Ho_Chi_Minh",
    "VU": "Pacific/Efate",
    "WF": "Pacific/Wallis",
    "WS": "Pacific/Apia",
    "XK": "Europe/Belgrade",  # Kosovo, not in tzdb; Central European Time
    "YE": "Asia/Aden",
    "YT": "Indian/Mayotte",
    "ZA": "Africa/Johannesburg",
    "ZM": "Africa/Lusaka",
    "ZW": "Africa/Harare",
}


def country_timezone_values_sql() -> str:
    """``COUNTRY_TIMEZONES`` as a SQL ``VALUES`` clause, so a query can join plays to their
    zone without a table in the warehouse. Use it as
    ``(<this>) tz(conn_country, time_zone)``, left-joined on ``conn_country`` with
    ``coalesce(tz.time_zone, 'UTC')`` for null or unknown countries, e.g.::

        select timezone(coalesce(tz.time_zone, 'UTC'), s.ts::timestamptz) as local_ts
          from core.streams s
          left join (values ('US', 'America/New_York'), ...) tz(conn_country, time_zone)
            using (conn_country)

    (with the session's ``TimeZone`` set to UTC, as ``marts.run.prepare`` does, so the cast
    to ``timestamptz`` reads the stored naive ``ts`` as UTC).
    """
    rows = ", ".join(f"('{code}', '{zone}')" for code, zone in sorted(COUNTRY_TIMEZONES.items()))
    return f"values {rows}"
