-- home_members gains `origin` (NOT NULL, no default), which SQLite cannot add
-- to a table that has rows: the table is rebuilt, as drizzle-kit rebuilds
-- SQLite tables. Nothing references home_members, so dropping it is safe.
CREATE TABLE `__new_home_members` (
	`home_id` integer NOT NULL,
	`user_id` integer NOT NULL,
	`role` text NOT NULL,
	`origin` text NOT NULL,
	`creation_time` text NOT NULL,
	PRIMARY KEY(`home_id`, `user_id`),
	FOREIGN KEY (`home_id`) REFERENCES `homes`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
-- Backfill: who created a home was not recorded, but it can be read back.
-- POST /homes has always written the creator's membership with the home's own
-- creation_time (one timestamp for both, in one batch), while an added member's
-- row is timed by a later request. So a row timed exactly as its home is the
-- creator's (`own`, whatever its role is now); every other row, owners
-- included, was added by someone else (`added`). Counting every owner as a
-- creator instead would keep the homes an account was added to as owner
-- counting against its cap, which is the case this column exists to undo.
INSERT INTO `__new_home_members` (`home_id`, `user_id`, `role`, `origin`, `creation_time`)
SELECT m.`home_id`, m.`user_id`, m.`role`,
       CASE WHEN m.`creation_time` = h.`creation_time` THEN 'own' ELSE 'added' END,
       m.`creation_time`
FROM `home_members` AS m JOIN `homes` AS h ON h.`id` = m.`home_id`;--> statement-breakpoint
DROP TABLE `home_members`;--> statement-breakpoint
ALTER TABLE `__new_home_members` RENAME TO `home_members`;--> statement-breakpoint
CREATE INDEX `home_members_user_origin` ON `home_members` (`user_id`,`origin`);
