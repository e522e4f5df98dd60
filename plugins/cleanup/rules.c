/* The shipped rule set. Each rule describes a KIND of chrome found on news
 * and blog pages, not the words of one site; README.md lists them with what
 * they are for. Patterns are matched, case-insensitively and in Unicode
 * mode, against one line whose blanks were folded; named groups (?<source>)
 * and (?<author>) also fill meta.source and meta.author when empty. */
#include "rules.h"

#define SOCIAL "(?:Facebook|Twitter|X|LinkedIn|WhatsApp|Pinterest|Reddit|Telegram|Email|E-mail|Print|Tumblr|Flipboard|Messenger|VK|Copy link)"
#define FILETYPE "(?:JPE?G|PNG|GIF|WEBP|TIFF?|PDF|DOCX?|XLSX?|PPTX?|ODT|ZIP|MP3|MP4|RTF)"
#define SIZE "\\d+(?:[.,]\\d+)?\\s?[kmg]i?b"
#define AGENCY "(?:AFP|AP|Reuters|EPA|EPA-EFE|Getty Images|AFP via Getty Images|Anadolu(?: Agency)?|Xinhua|TASS|Sputnik|Shutterstock|PA(?: Wire)?|dpa|UPI|Bloomberg|Alamy|IRNA|ANI)"

const rule_def cleanup_rules[] = {
    {"skip_link", "^(?:skip|jump) to (?:the )?(?:main )?(?:content|navigation|menu|search)\\W*$",
     RULE_LINE, 6, "Accessibility links at the top of a page."},
    {"share_counter", "^\\d{1,7}(?: \\d{1,7}){0,4}$", RULE_LINE, 0,
     "Lines of bare numbers: share, like and comment counters, page numbers."},
    {"media_placeholder",
     "^(?:image|photo|picture|video|embedded video|gallery|audio)(?: (?:for|of) (?:post|article))?$",
     RULE_LINE, 4, "Alt-text placeholders left where an image or video was (\"Image for post\")."},
    {"advertisement", "^(?:advertisement|sponsored(?: content)?|ad|promoted|paid content)$",
     RULE_LINE, 3, "Advertising labels."},
    {"attachment",
     "^(?:\\(?" FILETYPE " ?[-–—:] ?" SIZE "\\)?|(?:attached|attachments?|downloads?)(?: "
     "(?:documents?|files?))?:?|download (?:pdf|file|document)s?)$",
     RULE_LINE, 6, "File attachment widgets and size labels (\"JPEG - 71.3 kb\", \"(PDF – 1.1 Mb)\")."},
    {"listing_header",
     "^(?:archives?|category|categories|tag|tags|topic|section)(?: archives?)?\\s?[|:–—-] ?\\S.{0,60}$",
     RULE_LINE, 10, "Headers of archive, category and tag listing pages (\"Archive | Azerbaijan\")."},
    {"post_footer",
     "^(?:posted|filed|published) (?:in|under) .{1,300}?(?:comments? (?:off|closed)|leave a "
     "comment|\\d+ comments?|no comments)\\b.*$",
     RULE_LINE, 0,
     "Blog-engine footers after each post (\"Posted in X, Y Comments Off on TITLE\")."},
    {"taxonomy_line", "^(?:tags|tagged(?: with)?|categories|filed under|topics)\\s?: .{1,200}$",
     RULE_LINE, 30, "Tag and category lists."},
    {"read_more",
     "^(?:read|continue reading|read the (?:full|whole) (?:story|article)|see more|view more|"
     "learn more|read more)(?: more)?\\s?[»›→>…\\.]*$",
     RULE_PAIR, 5,
     "A \"Read more »\" link, with the teaser title just above it (a link to another article)."},
    {"related_block",
     "^(?:check also|related(?: (?:posts|articles|stories|news|content|reading|coverage))?|you "
     "(?:may|might) (?:also )?(?:like|enjoy|be interested in)|recommended(?: for you| "
     "stories| reading)?|more (?:stories|news|articles)(?: from .{1,40})?|most (?:read|"
     "popular|viewed|shared)|trending(?: now| stories)?|also read|see also|further reading|"
     "popular (?:posts|stories)|latest (?:news|stories|posts)|what to read next|up next)\\W*$",
     RULE_TAIL, 8,
     "A related/recommended-articles block near the end: its header and the teasers after it."},
    {"comments_block",
     "^(?:leave a (?:reply|comment)|comments? (?:are|is) closed\\.?|\\d+ (?:comments?|responses?|"
     "replies)|join the (?:conversation|discussion)|post a comment|add (?:a|your) comment|"
     "show comments|view comments|comments?)\\W*$",
     RULE_TAIL, 6, "The comment section at the end of a page: its header and what follows."},
    {"comment_form",
     "^(?:your email address will not be published\\b.*|required fields are marked.*|save my "
     "name, email.*|notify me of (?:follow-up comments|new posts).*|you must be logged in to "
     "post a comment.*)$",
     RULE_LINE, 40, "Comment-form instructions."},
    {"newsletter",
     "^(?:(?:sign up|subscribe|register)\\b.{0,160}\\b(?:newsletters?|alerts|inbox|updates|"
     "briefing|digest)\\b.{0,160}|(?:stay (?:informed|updated|up to date|in the know)|get (?:our|"
     "the latest)|never miss)\\b.{0,100}\\b(?:newsletters?|alerts|updates|stories)\\b.{0,80}|"
     "(?:sign up|subscribe)(?: now| today| for free)?\\W*)$",
     RULE_LINE, 60, "Newsletter and alert sign-up prompts."},
    {"social_share",
     "^(?:share(?: this)?(?: (?:article|story|post|page))?(?: (?:on|via))?:?|like this:?|"
     "share on " SOCIAL "|follow us(?: on " SOCIAL ")?:?|" SOCIAL ")$",
     RULE_LINE, 6, "Share buttons and social-network links."},
    {"syndication_via", "^via (?<source>\\S.{0,80}?) https?://\\S+(?: (?<author>\\S.{0,60}))?$",
     RULE_LINE, 30,
     "Feed-syndication lines (\"via SITE https://…\"); the site fills meta.source."},
    {"credit_caption",
     "^.{1,400}?\\((?:(?:source|photo|image|picture|credit|photograph|courtesy|video)s?(?: "
     "(?:by|credit))?:? [^()]{1,120}|@\\w{1,30}(?:/\\w{1,30})?|" AGENCY "(?:/[\\w .]{1,40})?)\\)?$",
     RULE_LINE, 60,
     "Image captions that end with a photo credit (\"… (Source: TASS)\", \"… (AFP)\").", "("},
    {"credit_line", "^(?:photo|image|picture|video)(?: credit)?s?: .{1,100}$", RULE_LINE, 16,
     "A line that is only a photo credit."},
    {"republishing",
     "^(?:(?<source>\\p{Lu}[\\w'’.&-]*(?: \\p{Lu}[\\w'’.&-]*){0,4}) (?:delivers|provides|brings|"
     "offers|publishes)\\b)?.{0,400}?\\b(?:republish(?:ing|ed)?\\b.{0,60}\\b(?:this|our|the) "
     "(?:content|article|story|piece)|(?:originally|first) (?:published|appeared) (?:on|in|at|by)"
     "\\b|(?:reprinted|republished) with permission)",
     RULE_LINE, 120, "Publisher blurbs about republishing and reprint rights.",
     "republish|originally published|first published|originally appeared|first appeared|"
     "reprinted with permission"},
    {"copyright", "^(?:©|\\(c\\)|copyright\\b).{0,150}$|^all rights reserved\\.?$", RULE_LINE, 30,
     "Copyright notices."},
};

const size_t cleanup_n_rules = sizeof cleanup_rules / sizeof cleanup_rules[0];
