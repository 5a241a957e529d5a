"""Uzbek (Latin), Russian and English texts of the pages; Uzbek first, English as fallback."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

__all__ = ["DEFAULT_LANG", "MESSAGES", "ago", "pick_lang", "translator"]

DEFAULT_LANG = "uz"

# key: (uz, ru, en)
_TEXTS: dict[str, tuple[str, str, str]] = {
    "skip_to_content": ("Asosiy qismga o‘tish", "К содержанию", "Skip to content"),
    "menu": ("Menyu", "Меню", "Menu"),
    "nav_homes": ("Uylar", "Дома", "Homes"),
    "nav_caseload": ("Mening uylarim", "Мои подопечные", "Caseload"),
    "nav_district": ("Tuman", "Район", "District"),
    "nav_kits": ("Qurilmalar", "Комплекты", "Kits"),
    "nav_admin": ("Boshqaruv", "Администрирование", "Admin"),
    "language": ("Til", "Язык", "Language"),
    "large_text": ("Katta matn", "Крупный текст", "Large text"),
    "save": ("Saqlash", "Сохранить", "Save"),
    "send": ("Yuborish", "Отправить", "Send"),
    "logout": ("Chiqish", "Выйти", "Log out"),
    "login": ("Kirish", "Вход", "Log in"),
    "username": ("Foydalanuvchi nomi", "Имя пользователя", "Username"),
    "password": ("Parol", "Пароль", "Password"),
    "login_failed": (
        "Nom yoki parol noto‘g‘ri.",
        "Неверное имя или пароль.",
        "Wrong username or password.",
    ),
    "login_throttled": (
        "Juda ko‘p urinish. Keyinroq qayta urinib ko‘ring.",
        "Слишком много попыток. Попробуйте позже.",
        "Too many attempts. Try again later.",
    ),
    "busy": (
        "Server band. Hech narsa oʻzgarmadi: birozdan keyin qayta urinib koʻring.",
        "Сервер занят. Ничего не изменилось: попробуйте ещё раз через минуту.",
        "The server is busy. Nothing was changed: try again in a moment.",
    ),
    "back_home": ("Bosh sahifaga", "На главную", "Back to start"),
    "not_found": ("Topilmadi.", "Не найдено.", "Not found."),
    "forbidden": (
        "Bu sahifa siz uchun emas.",
        "Эта страница вам недоступна.",
        "This page is not available to you.",
    ),
    "csrf_failed": (
        "Forma eskirgan. Sahifani yangilang.",
        "Форма устарела. Обновите страницу.",
        "The form has expired. Reload the page.",
    ),
    "no_homes": ("Uylar yo‘q.", "Домов нет.", "No homes."),
    "level_ok": ("Hammasi joyida", "Всё в порядке", "All is well"),
    "level_attention": ("E’tibor kerak", "Нужно внимание", "Needs attention"),
    "level_alert": ("Xavf signali", "Тревога", "Alert"),
    "reason_open_alert": ("Ochiq xavf signali bor", "Есть открытая тревога", "An alert is open"),
    "reason_kit_offline": ("Qurilma aloqada emas", "Комплект не на связи", "The kit is offline"),
    "reason_no_kit": ("Qurilma o‘rnatilmagan", "Комплект не установлен", "No kit installed"),
    "reason_quiet": ("Uzoq vaqt harakat yo‘q", "Давно нет движения", "No movement for a long time"),
    "last_activity": ("Oxirgi harakat", "Последнее движение", "Last activity"),
    "no_activity": (
        "Bugun harakat qayd etilmagan",
        "Сегодня движения не было",
        "No movement recorded today",
    ),
    "open_alerts": ("Ochiq xavf signallari", "Открытые тревоги", "Open alerts"),
    "no_open_alerts": ("Ochiq signal yo‘q", "Открытых тревог нет", "No open alerts"),
    "acknowledged_by": ("qabul qildi:", "принял(а):", "acknowledged by"),
    "today_title": ("Bugun xonalar bo‘yicha", "Сегодня по комнатам", "Today, room by room"),
    "as_list": ("Ro‘yxat ko‘rinishida", "Списком", "As a list"),
    "week_title": (
        "7 kunlik faollik va uyqu",
        "Активность и сон за 7 дней",
        "Activity and sleep, 7 days",
    ),
    "movements": ("Harakatlar", "Движения", "Movements"),
    "rest_hours": ("Tungi dam (soat)", "Ночной отдых (ч)", "Night rest (h)"),
    "day": ("Kun", "День", "Day"),
    "kit_title": ("Qurilma holati", "Состояние комплекта", "Kit health"),
    "online": ("Aloqada", "На связи", "Online"),
    "offline": ("Aloqa yo‘q", "Нет связи", "Offline"),
    "last_heartbeat": ("oxirgi signal", "последний сигнал", "last heartbeat"),
    "clock_offset": ("soat farqi", "расхождение часов", "clock offset"),
    "away_title": ("Uyda yo‘q / ta’til", "Нет дома / отпуск", "Away or on holiday"),
    "away_mode": ("Rejim", "Режим", "Mode"),
    "mode_away": ("Uyda yo‘q", "Нет дома", "Away"),
    "mode_holiday": ("Ta’til", "Отпуск", "Holiday"),
    "mode_visitor": ("Mehmon bor", "Гости", "Visitor"),
    "mode_off": ("Uyda (o‘chirish)", "Дома (выключить)", "Home (switch off)"),
    "until": ("gacha", "до", "until"),
    "contacts_title": ("Kimga qo‘ng‘iroq qilinadi", "Кому позвонят", "Who will be called"),
    "contact_family": ("oila", "семья", "family"),
    "contact_worker": ("ijtimoiy xodim", "соцработник", "social worker"),
    "no_contacts": ("Kontaktlar kiritilmagan", "Контакты не заданы", "No contacts yet"),
    "request_title": (
        "Tashrif yoki qo‘ng‘iroq so‘rash",
        "Попросить визит или звонок",
        "Request a visit or a call",
    ),
    "request_call": ("Qo‘ng‘iroq", "Звонок", "Call"),
    "request_visit": ("Tashrif", "Визит", "Visit"),
    "note": ("Izoh", "Комментарий", "Note"),
    "req_state_open": ("yangi", "новый", "new"),
    "req_state_accepted": ("qabul qilindi", "принят", "accepted"),
    "req_state_done": ("bajarildi", "выполнен", "done"),
    "req_state_cancelled": ("bekor qilindi", "отменён", "cancelled"),
    "requests_title": ("So‘rovlar", "Запросы", "Requests"),
    "requests_short": ("so‘rov", "запр.", "requests"),
    "no_requests": ("So‘rov yo‘q", "Запросов нет", "No requests"),
    "resident": ("Yashovchi", "Подопечный", "Resident"),
    "status": ("Holat", "Статус", "Status"),
    "state": ("Holat", "Состояние", "State"),
    "risk": ("Xavf darajasi", "Уровень риска", "Risk level"),
    "risk_low": ("past", "низкий", "low"),
    "risk_medium": ("o‘rta", "средний", "medium"),
    "risk_high": ("yuqori", "высокий", "high"),
    "kind_help_button": ("Yordam tugmasi bosildi", "Нажата кнопка помощи", "Help button pressed"),
    "kind_fall": ("Yiqilish", "Падение", "Fall"),
    "kind_unusual_inactivity": (
        "Uzoq harakatsizlik",
        "Долгое отсутствие движения",
        "Unusual inactivity",
    ),
    "kind_not_up": ("Ertalab turmadi", "Не встал(а) утром", "Not up this morning"),
    "kind_long_bathroom": ("Hammomda uzoq", "Долго в ванной", "Long bathroom visit"),
    "kind_night_wandering": ("Tunda yurish", "Ночные хождения", "Night wandering"),
    "kind_not_back": ("Uyga qaytmadi", "Не вернулся(ась) домой", "Not back home"),
    "kind_kit_offline": ("Qurilma aloqada emas", "Комплект не на связи", "Kit offline"),
    "kind_area_outage": ("Hududda uzilish", "Сбой в районе", "Area outage"),
    "kind_cold_home": ("Uyda sovuq", "В доме холодно", "Cold home"),
    "kind_cold_area": ("Mahallada uylar sovuq", "Холодно в домах махалли", "Cold homes in area"),
    "state_raised": ("yangi", "новая", "raised"),
    "state_notified": ("xabar berildi", "оповещены", "notified"),
    "state_acknowledged": ("qabul qilindi", "принята", "acknowledged"),
    "state_on_the_way": ("yo‘lda", "в пути", "on the way"),
    "state_arrived": ("yetib keldi", "на месте", "arrived"),
    "state_resolved": ("hal qilindi", "закрыта", "resolved"),
    "state_cancelled": ("bekor qilindi", "отменена", "cancelled"),
    "act_acknowledge": ("Qabul qilaman", "Принять", "Acknowledge"),
    "act_on_the_way": ("Yo‘ldaman", "Еду", "On my way"),
    "act_arrived": ("Yetib keldim", "На месте", "Arrived"),
    "act_resolve": ("Yopish", "Закрыть", "Resolve"),
    "outcome": ("Natija", "Итог", "Outcome"),
    "out_incident_confirmed": ("Hodisa tasdiqlandi", "Случай подтверждён", "Incident confirmed"),
    "out_false_alarm": ("Yolg‘on signal", "Ложная тревога", "False alarm"),
    "out_resident_fine": ("Yashovchi yaxshi", "С подопечным всё хорошо", "Resident is fine"),
    "out_taken_to_hospital": (
        "Shifoxonaga olib ketildi",
        "Госпитализирован(а)",
        "Taken to hospital",
    ),
    "out_other": ("Boshqa", "Другое", "Other"),
    "severity": ("Darajasi", "Важность", "Severity"),
    "sev_critical": ("juda muhim", "критическая", "critical"),
    "sev_high": ("yuqori", "высокая", "high"),
    "sev_medium": ("o‘rta", "средняя", "medium"),
    "sev_low": ("past", "низкая", "low"),
    "raised": ("boshlandi", "поднята", "raised"),
    "birth_date": ("Tug‘ilgan sana", "Дата рождения", "Date of birth"),
    "address": ("Manzil", "Адрес", "Address"),
    "languages": ("Tillar", "Языки", "Languages"),
    "routine": ("Kun tartibi", "Распорядок", "Routine"),
    "first_movement": ("turadi", "встаёт", "up at"),
    "last_movement": ("yotadi", "ложится", "last movement"),
    "movements_per_day": ("harakat/kun", "движений/день", "movements a day"),
    "days": ("kun", "дн.", "days"),
    "last_visit": ("Oxirgi tashrif", "Последний визит", "Last visit"),
    "family_view": ("Oila ko‘rinishi", "Вид для семьи", "Family view"),
    "report_since": ("Davr boshi:", "С даты:", "Since"),
    "mahalla": ("Mahalla", "Махалля", "Mahalla"),
    "homes": ("Uylar", "Дома", "Homes"),
    "alerts": ("Signallar", "Тревоги", "Alerts"),
    "ack_median": ("Qabul (mediana, s)", "Принятие (медиана, с)", "Ack median (s)"),
    "arrive_median": ("Yetib kelish (mediana, s)", "Прибытие (медиана, с)", "Arrival median (s)"),
    "outbox_depth": ("navbatda", "в очереди", "outbox"),
    "sensor": ("Sensor", "Датчик", "Sensor"),
    "room": ("Xona", "Комната", "Room"),
    "last_signal": ("Oxirgi signal", "Последний сигнал", "Last signal"),
    "never": ("hech qachon", "никогда", "never"),
    "unreachable": ("aloqa yoʻq", "нет связи", "unreachable"),
    "commissioning": ("Sinov hisoboti", "Акт проверки", "Commissioning"),
    "passed": ("o‘tdi", "пройдена", "passed"),
    "failed": ("o‘tmadi", "не пройдена", "failed"),
    "missing": ("javob bermadi", "не ответили", "missing"),
    "no_report": ("hisobot yo‘q", "акта нет", "no report"),
    "no_kits": ("Qurilmalar yo‘q", "Комплектов нет", "No kits"),
    "users": ("Foydalanuvchilar", "Пользователи", "Users"),
    "role": ("Rol", "Роль", "Role"),
    "scope": ("Hudud", "Доступ", "Scope"),
    "add_user": ("Foydalanuvchi qo‘shish", "Добавить пользователя", "Add user"),
    "registry": ("Reyestr", "Реестр", "Registry"),
    "registry_file": ("CSV yoki JSON fayl", "Файл CSV или JSON", "CSV or JSON file"),
    "import": ("Yuklash", "Загрузить", "Import"),
    "export": ("Eksport", "Экспорт", "Export"),
    "import_report": ("Yuklash natijasi", "Итог загрузки", "Import report"),
    "imported": ("Yangi + yangilangan", "Новых + обновлённых", "Created + updated"),
    "rejected": ("Rad etilgan", "Отклонено", "Rejected"),
    "row": ("Qator", "Строка", "Row"),
    "audit_log": ("Audit jurnali", "Журнал аудита", "Audit log"),
    "time": ("Vaqt", "Время", "Time"),
    "action": ("Amal", "Действие", "Action"),
    "target": ("Obyekt", "Объект", "Target"),
    "saved": ("Saqlandi.", "Сохранено.", "Saved."),
    "request_sent": (
        "So‘rov ijtimoiy xodimga yuborildi.",
        "Запрос отправлен соцработнику.",
        "Your request was sent to the social worker.",
    ),
    "action_refused": (
        "Bu amalni bajarib bo‘lmaydi",
        "Это действие невозможно",
        "That cannot be done",
    ),
    "nav_report": ("Hisobot", "Отчёт", "Report"),
    "report_title": (
        "Javob vaqti hisoboti",
        "Отчёт о времени реагирования",
        "Response-time report",
    ),
    "report_from": ("Boshlanishi", "С", "From"),
    "report_to": ("Oxiri", "По", "To"),
    "show": ("Ko‘rsatish", "Показать", "Show"),
    "report_anchors": (
        "Vaqtlar: mediana / 90-persentil, soniya. Mezon: signallarning 97,5 % 60 s ichida, "
        "99 % 180 s ichida qabul qilinishi.",
        "Время: медиана / 90-й перцентиль, секунды. Ориентир: 97,5 % тревог приняты за 60 с, "
        "99 % за 180 с.",
        "Times: median / 90th percentile, seconds. Anchors: 97.5 % of alerts acknowledged "
        "within 60 s, 99 % within 180 s.",
    ),
    "for_people": ("Odamlarga", "Для людей", "For people"),
    "to_notify": ("Xabar berish", "Оповещение", "To notify"),
    "to_acknowledge": ("Qabul qilish", "Принятие", "To acknowledge"),
    "to_arrive": ("Yetib kelish", "Прибытие", "To arrive"),
    "aim": ("mezon", "цель", "aim"),
    "met": ("bajarildi", "выполнено", "met"),
    "not_met": ("bajarilmadi", "не выполнено", "not met"),
    "not_acknowledged": ("Qabul qilinmagan", "Не приняты", "Not acknowledged"),
    "cancelled_held": (
        "Yashovchi bekor qildi / ushlab qolindi",
        "Отменены жильцом / удержаны",
        "Cancelled by resident / held back",
    ),
    "district_total": ("Butun tuman", "Весь район", "Whole district"),
    "no_alerts_in_period": (
        "Bu davrda signal yo‘q",
        "За этот период тревог нет",
        "No alerts in this period",
    ),
    "state_suppressed": ("ushlab qolindi", "удержана", "held back"),
    "state_test": ("sinov (oʻrnatuvchi)", "тест (монтажник)", "test (installer)"),
    "act_raised": ("signal ko‘tarildi", "тревога поднята", "alert raised"),
    "act_notified": ("xabar yetkazildi", "оповещение доставлено", "notification delivered"),
    "act_escalation_step": ("keyingi bosqich", "следующий шаг эскалации", "escalation step"),
    "act_renotify": ("qayta xabar", "повторное оповещение", "notified again"),
    "act_ack_timeout": (
        "yetib kelmadi — qayta ochildi",
        "не прибыл — снова открыта",
        "no arrival in time — re-opened",
    ),
    "act_held": ("ushlab turildi", "удержана", "held"),
    "act_fallback": ("zaxira kontakt", "резервный контакт", "fallback contact"),
    "act_ask_resident": ("yashovchidan so‘raldi", "спросили жильца", "resident asked"),
    "act_resident_no_answer": (
        "yashovchi javob bermadi",
        "жилец не ответил",
        "resident did not answer",
    ),
    "act_delivery_failed": ("yetkazilmadi", "не доставлено", "delivery failed"),
    "act_method_failed": ("kanal ishlamadi", "канал не сработал", "channel failed"),
    "act_cancelled": ("yashovchi: «Men yaxshiman»", "жилец: «Я в порядке»", "resident: I'm OK"),
    "act_suppressed": ("ushlab qolindi", "удержана", "held back"),
    "act_test": (
        "sinov rejimi: hech kimga yuborilmadi",
        "тестовый режим: никому не отправлено",
        "test mode: sent to nobody",
    ),
    "act_ack_link_used": ("havola orqali", "по ссылке", "via the link"),
    "act_ack_link_late": ("havola kech ishlatildi", "ссылка использована поздно", "link used late"),
    "act_outage_grew": ("uzilish kengaydi", "сбой расширился", "outage grew"),
    "out_kit_back_online": ("Qurilma qayta ulandi", "Комплект снова на связи", "Kit back online"),
    # the installer's walk test (dashboards/routes/installer.py)
    "walk_test": ("Sensorlarni sinash", "Обход датчиков", "Walk test"),
    "open_walk_test": ("Sinovni ochish", "Открыть проверку", "Open the walk test"),
    "kit_id": ("Qurilma", "Комплект", "Kit"),
    "never_connected": (
        "Hali bir marta ham ulanmagan: broker va parolni tekshiring (mehr edge --check)",
        "Ещё ни разу не подключался: проверьте брокер и пароль (mehr edge --check)",
        "Has never connected: check the broker and its credentials (mehr edge --check)",
    ),
    "never_connected_short": ("hali ulanmagan", "не подключался", "never connected"),
    "online_since": ("{at} dan beri aloqada", "На связи с {at}", "Online since {at}"),
    "offline_since": ("{at} dan beri aloqa yoʻq", "Нет связи с {at}", "Offline since {at}"),
    "heartbeat_at": ("Oxirgi signal: {at}", "Последний сигнал: {at}", "Last heartbeat: {at}"),
    "no_heartbeat": ("Hali signal yoʻq", "Сигналов ещё не было", "No heartbeat yet"),
    "heartbeat_late": ("kechikmoqda", "запаздывает", "late"),
    "test_mode": ("Sinov rejimi", "Тестовый режим", "Test mode"),
    "test_mode_on_until": (
        "{at} gacha yoqilgan: signallar hech kimga yuborilmaydi",
        "Включён до {at}: тревоги никому не отправляются",
        "On until {at}: alerts page nobody",
    ),
    "test_mode_off": (
        "Oʻchirilgan: signallar odatdagidek yuboriladi",
        "Выключен: тревоги отправляются как обычно",
        "Off: alerts page people as usual",
    ),
    "start_test_mode": ("Sinov rejimini yoqish", "Включить тестовый режим", "Start test mode"),
    "end_test_mode": ("Sinov rejimini oʻchirish", "Выключить тестовый режим", "End test mode"),
    "test_minutes": ("Necha daqiqa", "На сколько минут", "For how many minutes"),
    "test_mode_started": ("Sinov rejimi yoqildi.", "Тестовый режим включён.", "Test mode is on."),
    "test_mode_ended": (
        "Sinov rejimi oʻchirildi.",
        "Тестовый режим выключен.",
        "Test mode is off.",
    ),
    "walk_start_hint": (
        "Sinov rejimini yoqing, soʻng har bir sensorni ishga tushiring.",
        "Включите тестовый режим, затем задействуйте каждый датчик.",
        "Start test mode, then make every sensor fire.",
    ),
    "walk_fired_of": (
        "{total} tadan {n} ta sensor javob berdi",
        "Сработало датчиков: {n} из {total}",
        "{n} of {total} sensors fired",
    ),
    "walk_done": ("Hamma sensorlar javob berdi", "Все датчики сработали", "Every sensor fired"),
    "walk_fired": ("javob berdi", "сработал", "fired"),
    "walk_waiting": ("kutilmoqda", "ожидается", "waiting"),
    "walk_silent": ("Hali javob bermaganlar", "Ещё не сработали", "Still silent"),
    "test_alerts": (
        "Sinov signallari (hech kimga yuborilmadi)",
        "Тестовые тревоги (никому не отправлены)",
        "Test alerts (sent to nobody)",
    ),
    "walk_finish": (
        "Sinovni yakunlash va saqlash",
        "Завершить и сохранить проверку",
        "Finish and save the walk test",
    ),
    "walk_saved": (
        "Sinov hisoboti saqlandi, sinov rejimi oʻchirildi.",
        "Акт проверки сохранён, тестовый режим выключен.",
        "The walk-test report is saved; test mode is off.",
    ),
    "walk_not_started": ("Avval sinov rejimini yoqing.", "Сначала включите тестовый режим.",
                         "Start test mode first."),
    "handover_sheet": ("Topshirish hujjati", "Акт передачи", "Handover sheet"),
    "last_walk_test": ("Oxirgi sinov", "Последняя проверка", "Last walk test"),
    "sensor_motion": ("Harakat sensori", "Датчик движения", "Motion sensor"),
    "sensor_door": ("Eshik datchigi", "Датчик двери", "Door sensor"),
    "sensor_help_button": ("Yordam tugmasi", "Кнопка помощи", "Help button"),
    "sensor_ok_button": ("«Yaxshiman» tugmasi", "Кнопка «Я в порядке»", "“I'm OK” button"),
    "sensor_fall": ("Yiqilish datchigi", "Датчик падения", "Fall sensor"),
    "sensor_accel_window": ("Akselerometr", "Акселерометр", "Accelerometer"),
    "sensor_temperature": ("Harorat datchigi", "Датчик температуры", "Temperature sensor"),
    "sensor_battery": ("Batareya", "Батарея", "Battery"),
    "sensor_occupancy": ("Bosim gilamchasi", "Датчик присутствия", "Pressure mat"),
    "sensor_appliance": ("Maishiy asbob", "Бытовой прибор", "Appliance"),
    "how_motion": ("oldidan yurib oʻting", "пройдите перед ним", "walk in front of it"),
    "how_door": (
        "eshikni oching va yoping",
        "откройте и закройте дверь",
        "open and close the door",
    ),
    "how_help_button": ("tugmani bosing", "нажмите кнопку", "press the button"),
    "how_ok_button": ("tugmani bosing", "нажмите кнопку", "press the button"),
    "how_fall": (
        "datchikning sinov rejimini yoqing",
        "включите проверку датчика падения",
        "trigger the fall sensor's test mode",
    ),
    "how_accel_window": (
        "datchikni qattiq chertib koʻring",
        "резко постучите по датчику",
        "tap the sensor firmly",
    ),
    "how_occupancy": (
        "gilamchaga oʻtiring (yoting), soʻng turing",
        "сядьте (лягте) на коврик, затем встаньте",
        "sit (or lie) on the mat, then get up",
    ),
    "how_appliance": (
        "asbobni yoqing (yoki suvni toʻkib yuboring)",
        "включите прибор (или смойте воду)",
        "switch the appliance on (or flush the toilet)",
    ),
    "how_temperature": (
        "datchikni bir daqiqa qoʻlingizda ushlang",
        "подержите датчик в руке минуту",
        "hold the sensor in your hand for a minute",
    ),
    "place_kitchen": ("Oshxona", "Кухня", "Kitchen"),
    "place_bathroom": ("Hammom", "Ванная", "Bathroom"),
    "place_bedroom": ("Yotoqxona", "Спальня", "Bedroom"),
    "place_living": ("Mehmonxona", "Гостиная", "Living room"),
    "place_entrance": ("Dahliz", "Прихожая", "Entrance"),
    "away_now": ("Hozir", "Сейчас", "Now"),
    "ago_now": ("hozirgina", "только что", "just now"),
    "ago_min": ("{n} daqiqa oldin", "{n} мин назад", "{n} min ago"),
    "ago_hour": ("{n} soat oldin", "{n} ч назад", "{n} h ago"),
    "ago_day": ("{n} kun oldin", "{n} дн. назад", "{n} days ago"),
}

_INDEX = {"uz": 0, "ru": 1, "en": 2}
MESSAGES: dict[str, dict[str, str]] = {
    lang: {key: texts[i] for key, texts in _TEXTS.items()} for lang, i in _INDEX.items()
}


def translator(lang: str) -> Callable[[str], str]:
    """A `t(key)` for one language; an unknown key shows itself so it is noticed."""
    table = MESSAGES.get(lang, MESSAGES[DEFAULT_LANG])
    fallback = MESSAGES["en"]

    def t(key: str) -> str:
        return table.get(key) or fallback.get(key) or key

    return t


def ago(t: Callable[[str], str], moment: datetime, now: datetime) -> str:
    """'12 min ago' in the page's language."""
    secs = max((now - moment).total_seconds(), 0)
    if secs < 60:
        return t("ago_now")
    if secs < 3600:
        return t("ago_min").format(n=int(secs // 60))
    if secs < 86400 * 2:
        return t("ago_hour").format(n=int(secs // 3600))
    return t("ago_day").format(n=int(secs // 86400))


def pick_lang(accept_language: str | None) -> str:
    """The first of uz/ru/en the browser asks for; Uzbek when none."""
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in _INDEX:
            return code
    return DEFAULT_LANG
