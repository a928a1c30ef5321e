package page

import "strings"

// messages holds every string the page shows, per language. The template
// only ever prints these fields, so adding a language is adding a value here.
type messages struct {
	Dir   string // "ltr" or "rtl"
	Title string

	StatusLabel    string
	StatusActive   string
	StatusDisabled string
	StatusLimited  string
	StatusExpired  string
	StatusOnHold   string

	Usage      string
	Used       string
	Limit      string
	Remaining  string
	Unlimited  string
	UsageBar   string // accessible name of the usage bar
	Expiry     string
	ExpiresOn  string
	ExpiredOn  string
	Never      string
	DaysLeft   string
	NoExpiry   string
	Expired    string
	Subscripts string // heading of the subscription-link card
	SubHint    string
	Import     string
	ImportHint string
	Configs    string
	Copy       string
	Copied     string
	CopyLabel  string // accessible name prefix for a copy button
	LinkLabel  string // accessible name prefix for a link field
	ShowQR     string
	QRLabel    string // accessible name prefix for a QR image
	QRTooLong  string
	Support    string
	NoLinks    string
	// PerDevice replaces the links in the credentials-per-device mode.
	PerDevice string

	Devices       string // heading of the devices card
	DeviceSeen    string // "last seen" label
	DeviceRefused string // badge of a device turned away by the limit
	UnknownDevice string // a device without a name or model

	// Units and number formatting.
	UnitB, UnitKB, UnitMB, UnitGB, UnitTB string
	Decimal                               byte
	DateLayout                            string // Go layout, unused when Jalali
	Jalali                                bool
}

// languages are the supported languages; a language's position indexes
// per-language caches.
var languages = [...]string{"en", "fa", "ru", "zh"}

var catalog = map[string]*messages{
	"en": {
		Dir: "ltr", Title: "Subscription",
		StatusLabel: "Status", StatusActive: "Active", StatusDisabled: "Disabled",
		StatusLimited: "Data limit reached", StatusExpired: "Expired", StatusOnHold: "On hold",
		Usage: "Data usage", Used: "Used", Limit: "Limit", Remaining: "Remaining",
		Unlimited: "Unlimited", UsageBar: "Share of data limit used",
		Expiry: "Expiry", ExpiresOn: "Expires on", ExpiredOn: "Expired on", Never: "Never expires",
		DaysLeft: "Days left:", NoExpiry: "No expiry date", Expired: "Expired",
		Subscripts: "Subscription link", SubHint: "Add this link to your app once; it updates by itself.",
		Import: "Import to app", ImportHint: "Opens the app if it is installed on this device.",
		Configs: "Configurations", Copy: "Copy", Copied: "Copied", CopyLabel: "Copy",
		LinkLabel: "Link", ShowQR: "Show QR code", QRLabel: "QR code for",
		QRTooLong: "Too long for a QR code; use Copy.", Support: "Support",
		NoLinks:   "No configurations are available right now.",
		PerDevice: "Each of your devices gets configurations of its own: import the subscription link above in your app on each device instead of copying configurations from here.",
		Devices:   "Devices", DeviceSeen: "Last seen", DeviceRefused: "Over the device limit", UnknownDevice: "Unknown device",
		UnitB: "B", UnitKB: "KB", UnitMB: "MB", UnitGB: "GB", UnitTB: "TB",
		Decimal: '.', DateLayout: "2006-01-02",
	},
	"fa": {
		Dir: "rtl", Title: "اشتراک",
		StatusLabel: "وضعیت", StatusActive: "فعال", StatusDisabled: "غیرفعال",
		StatusLimited: "حجم تمام شده", StatusExpired: "منقضی شده", StatusOnHold: "در انتظار شروع",
		Usage: "مصرف داده", Used: "مصرف شده", Limit: "حجم کل", Remaining: "باقی‌مانده",
		Unlimited: "نامحدود", UsageBar: "درصد مصرف از حجم کل",
		Expiry: "تاریخ انقضا", ExpiresOn: "انقضا در", ExpiredOn: "منقضی شده در", Never: "بدون تاریخ انقضا",
		DaysLeft: "روزهای باقی‌مانده:", NoExpiry: "بدون تاریخ انقضا", Expired: "منقضی شده",
		Subscripts: "لینک اشتراک", SubHint: "این لینک را یک بار در برنامه اضافه کنید؛ خودکار به‌روز می‌شود.",
		Import: "افزودن به برنامه", ImportHint: "اگر برنامه روی این دستگاه نصب باشد باز می‌شود.",
		Configs: "کانفیگ‌ها", Copy: "کپی", Copied: "کپی شد", CopyLabel: "کپی",
		LinkLabel: "لینک", ShowQR: "نمایش کد QR", QRLabel: "کد QR برای",
		QRTooLong: "برای کد QR بیش از حد طولانی است؛ از کپی استفاده کنید.", Support: "پشتیبانی",
		NoLinks:   "در حال حاضر کانفیگی در دسترس نیست.",
		PerDevice: "هر دستگاه شما کانفیگ مخصوص خودش را می‌گیرد: به جای کپی کانفیگ از اینجا، لینک اشتراک بالا را در برنامهٔ هر دستگاه وارد کنید.",
		Devices:   "دستگاه‌ها", DeviceSeen: "آخرین بازدید", DeviceRefused: "خارج از محدودیت دستگاه", UnknownDevice: "دستگاه ناشناس",
		UnitB: "بایت", UnitKB: "کیلوبایت", UnitMB: "مگابایت", UnitGB: "گیگابایت", UnitTB: "ترابایت",
		Decimal: '.', Jalali: true,
	},
	"ru": {
		Dir: "ltr", Title: "Подписка",
		StatusLabel: "Статус", StatusActive: "Активна", StatusDisabled: "Отключена",
		StatusLimited: "Трафик исчерпан", StatusExpired: "Срок истёк", StatusOnHold: "Ожидает активации",
		Usage: "Трафик", Used: "Использовано", Limit: "Лимит", Remaining: "Осталось",
		Unlimited: "Без ограничений", UsageBar: "Доля использованного трафика",
		Expiry: "Срок действия", ExpiresOn: "Действует до", ExpiredOn: "Истекла", Never: "Бессрочно",
		DaysLeft: "Осталось дней:", NoExpiry: "Без срока окончания", Expired: "Срок истёк",
		Subscripts: "Ссылка подписки", SubHint: "Добавьте эту ссылку в приложение один раз — она обновляется сама.",
		Import: "Добавить в приложение", ImportHint: "Откроет приложение, если оно установлено на этом устройстве.",
		Configs: "Конфигурации", Copy: "Копировать", Copied: "Скопировано", CopyLabel: "Копировать",
		LinkLabel: "Ссылка", ShowQR: "Показать QR-код", QRLabel: "QR-код для",
		QRTooLong: "Слишком длинно для QR-кода; используйте копирование.", Support: "Поддержка",
		NoLinks:   "Сейчас нет доступных конфигураций.",
		PerDevice: "Каждое ваше устройство получает собственные конфигурации: добавьте ссылку подписки выше в приложение на каждом устройстве, а не копируйте конфигурации отсюда.",
		Devices:   "Устройства", DeviceSeen: "Последний раз", DeviceRefused: "Сверх лимита устройств", UnknownDevice: "Неизвестное устройство",
		UnitB: "Б", UnitKB: "КБ", UnitMB: "МБ", UnitGB: "ГБ", UnitTB: "ТБ",
		Decimal: ',', DateLayout: "02.01.2006",
	},
	"zh": {
		Dir: "ltr", Title: "订阅",
		StatusLabel: "状态", StatusActive: "正常", StatusDisabled: "已禁用",
		StatusLimited: "流量已用尽", StatusExpired: "已过期", StatusOnHold: "待激活",
		Usage: "流量使用", Used: "已用", Limit: "总量", Remaining: "剩余",
		Unlimited: "不限量", UsageBar: "已用流量比例",
		Expiry: "到期时间", ExpiresOn: "到期于", ExpiredOn: "过期于", Never: "永不过期",
		DaysLeft: "剩余天数：", NoExpiry: "无到期时间", Expired: "已过期",
		Subscripts: "订阅链接", SubHint: "在应用中添加一次此链接，之后会自动更新。",
		Import: "导入到应用", ImportHint: "如果本设备已安装该应用，将直接打开。",
		Configs: "节点配置", Copy: "复制", Copied: "已复制", CopyLabel: "复制",
		LinkLabel: "链接", ShowQR: "显示二维码", QRLabel: "二维码：",
		QRTooLong: "内容过长，无法生成二维码，请使用复制。", Support: "客服支持",
		NoLinks:   "当前没有可用的节点配置。",
		PerDevice: "您的每台设备都有各自的节点配置：请在每台设备的应用中导入上方的订阅链接，而不要从此处复制配置。",
		Devices:   "设备", DeviceSeen: "最近使用", DeviceRefused: "超出设备数量限制", UnknownDevice: "未知设备",
		UnitB: "B", UnitKB: "KB", UnitMB: "MB", UnitGB: "GB", UnitTB: "TB",
		Decimal: '.', DateLayout: "2006年1月2日",
	},
}

// DefaultLanguage is served when nothing in Accept-Language matches.
const DefaultLanguage = "en"

// maxLanguageRanges bounds the work spent on one Accept-Language header:
// real browsers send fewer than ten ranges, and the header is attacker
// controlled.
const maxLanguageRanges = 32

// Language picks the supported language the client prefers most, honouring
// q-values (RFC 9110 section 12.5.4); ties go to the earlier range. It never
// allocates, so it is safe to call on every request.
func Language(acceptLanguage string) string {
	best, bestQ := "", 0
	rest := acceptLanguage
	for i := 0; rest != "" && i < maxLanguageRanges; i++ {
		var part string
		part, rest, _ = strings.Cut(rest, ",")
		tag, params, _ := strings.Cut(part, ";")
		q, ok := quality(params)
		if !ok || q <= bestQ {
			continue
		}
		if lang := supported(strings.TrimSpace(tag)); lang != "" {
			best, bestQ = lang, q
		}
	}
	if best == "" {
		return DefaultLanguage
	}
	return best
}

// supported maps a language range to one of ours by its primary subtag, so
// fa-IR, zh-Hant-TW and ru_RU all match.
func supported(tag string) string {
	primary := tag
	if i := strings.IndexAny(tag, "-_"); i >= 0 {
		primary = tag[:i]
	}
	for _, lang := range languages {
		if strings.EqualFold(primary, lang) {
			return lang
		}
	}
	return ""
}

// quality returns the q parameter in thousandths (1000 when absent). A
// malformed q makes the whole range invalid, as the RFC's grammar implies.
func quality(params string) (int, bool) {
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		name, value, found := strings.Cut(strings.TrimSpace(p), "=")
		if !found || !strings.EqualFold(strings.TrimSpace(name), "q") {
			continue
		}
		return parseQ(strings.TrimSpace(value))
	}
	return 1000, true
}

// parseQ accepts the RFC's qvalue grammar: 0[.ddd] or 1[.000].
func parseQ(v string) (int, bool) {
	if v == "" || len(v) > 5 || (v[0] != '0' && v[0] != '1') {
		return 0, false
	}
	q := int(v[0]-'0') * 1000
	if len(v) > 1 {
		if v[1] != '.' {
			return 0, false
		}
		scale := 100
		for _, c := range []byte(v[2:]) {
			if c < '0' || c > '9' {
				return 0, false
			}
			q += int(c-'0') * scale
			scale /= 10
		}
	}
	if q > 1000 {
		return 0, false
	}
	return q, true
}

// catalogFor resolves lang to a supported language, its index in
// languages and its strings, falling back to the default.
func catalogFor(lang string) (string, int, *messages) {
	for i, l := range languages {
		if l == lang {
			return l, i, catalog[l]
		}
	}
	return DefaultLanguage, 0, catalog[DefaultLanguage]
}
