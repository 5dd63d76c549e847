CREATE TABLE `credential_channels` (
	`credential` text NOT NULL,
	`holder` text NOT NULL,
	`holder_id` integer NOT NULL,
	`creation_time` text NOT NULL,
	PRIMARY KEY(`credential`, `holder`, `holder_id`)
);
--> statement-breakpoint
CREATE TABLE `live_outbox` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`intent` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`due_at` integer NOT NULL,
	`last_error` text,
	`creation_time` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `live_outbox_due` ON `live_outbox` (`due_at`);--> statement-breakpoint
CREATE INDEX `devices_connected` ON `devices` (`last_connect_time`) WHERE "devices"."is_connected" = 1;--> statement-breakpoint
CREATE INDEX `user_sessions_last_used` ON `user_sessions` (`last_used_time`);--> statement-breakpoint
CREATE INDEX `user_sessions_created` ON `user_sessions` (`creation_time`);